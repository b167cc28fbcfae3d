"""``kefu sim train|evaluate|compare|chat`` through the handlers that bot/cli.py wires in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.commands import sim_cmd
from bot.errors import KefuError

TINY_SHOP = Path(__file__).resolve().parent / "fixtures" / "tiny_shop"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kefu sim")
    sim_cmd.add_sim_args(parser.add_subparsers(dest="sim_command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_the_four_subcommands_are_registered():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="sim_command")
    sim_cmd.add_sim_args(sub)
    assert set(sub.choices) == {"train", "evaluate", "compare", "chat"}
    args = parser.parse_args(["train", "--algo", "dqn", "--timesteps", "10", "--nlu-error", "0.2", "--seed", "3",
                              "--n-envs", "2", "--warm-start", "stories"])
    assert (args.algo, args.timesteps, args.nlu_error, args.seed, args.n_envs, args.warm_start) == \
        ("dqn", 10, 0.2, 3, 2, "stories")
    assert args.handler is sim_cmd.run_train


def test_train_then_evaluate_then_chat(tmp_path, capsys):
    out = tmp_path / "q"
    assert _run(["train", "--project", str(TINY_SHOP), "--algo", "qlearning", "--timesteps", "3000",
                 "--eval-freq", "1500", "--eval-episodes", "20", "--final-episodes", "50", "--out", str(out),
                 "--no-progress"]) == 0
    report = json.loads((out / "train_report.json").read_text())
    assert report["config"]["algo"] == "qlearning" and len(report["curve"]) == 2
    assert report["heldout_evaluation"]["episodes"] == 50
    assert (out / "train_curve.png").exists() and (out / "qtable" / "q_table.npz").exists()
    metrics_file = tmp_path / "eval.json"
    assert _run(["evaluate", "--project", str(TINY_SHOP), "--policy", "qlearning", "--model", str(out),
                 "--episodes", "40", "--nlu-error", "0.1", "--out", str(metrics_file)]) == 0
    metrics = json.loads(metrics_file.read_text())
    low, high = metrics["success_ci95"]
    assert low <= metrics["success_rate"] <= high and metrics["episodes"] == 40
    capsys.readouterr()
    assert _run(["chat", "--project", str(TINY_SHOP), "--policy", "rule", "-n", "2", "--nlu-error", "0"]) == 0
    text = capsys.readouterr().out
    assert text.count("--- dialogue") == 2 and "goal: return_item" in text and "bot: return_form" in text


def test_compare_writes_table_json_and_png(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert _run(["compare", "--project", str(TINY_SHOP), "--policies", "rule,qlearning", "--noise", "0,0.3",
                 "--seeds", "2", "--episodes", "30", "--timesteps", "1000", "--out", str(out)]) == 0
    report = json.loads((out / "compare.json").read_text())
    assert (out / "compare.png").stat().st_size > 1000
    assert len(report["runs"]) == 2 * 2 * 2
    rule = report["summary"]["rule"]
    assert rule["0"]["seeds"] == 2 and rule["0"]["success_mean"] >= rule["0.3"]["success_mean"]
    assert "rule" in capsys.readouterr().out


def test_bad_arguments_are_reported_as_kefu_errors():
    with pytest.raises(KefuError, match="unknown policy"):
        _run(["compare", "--project", str(TINY_SHOP), "--policies", "rule,telepathy"])
    with pytest.raises(KefuError, match="between 0 and 1"):
        _run(["evaluate", "--project", str(TINY_SHOP), "--nlu-error", "1.5"])
