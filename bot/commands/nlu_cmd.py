"""``kefu train nlu`` and ``kefu test nlu`` (placeholder until the NLU issue lands)."""

from __future__ import annotations

import argparse


def add_train_nlu_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default="config.yml")
    parser.add_argument("--data", "-d", nargs="+", default=["data"])
    parser.add_argument("--out", default="models")
    parser.add_argument("--seed", type=int, default=42)


def run_train_nlu(args: argparse.Namespace) -> int:
    print("kefu train nlu: not available yet (NLU issue)")
    return 2


def add_test_nlu_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nlu", "-u", default="data")
    parser.add_argument("--model", "-m", default="models")
    parser.add_argument("--out", default="results")


def run_test_nlu(args: argparse.Namespace) -> int:
    print("kefu test nlu: not available yet (NLU issue)")
    return 2
