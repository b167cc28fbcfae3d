"""``kefu train`` (placeholder until the dialogue engine lands)."""

from __future__ import annotations

import argparse


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default="config.yml")
    parser.add_argument("--domain", "-d", default="domain.yml")
    parser.add_argument("--data", nargs="+", default=["data"])
    parser.add_argument("--out", default="models")


def run(args: argparse.Namespace) -> int:
    print("kefu train: the full model (NLU + dialogue) arrives with the dialogue engine issue.")
    return 2
