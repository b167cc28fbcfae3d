"""`kefu shell --debug`: a conversation on stdin, with intent, slots and each policy's vote shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_project import train_core, write_project

SHELL = ("import argparse, sys; from bot.commands import shell_cmd; p = argparse.ArgumentParser(); "
         "shell_cmd.add_args(p); sys.exit(shell_cmd.run(p.parse_args(sys.argv[1:])))")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("shell"))
    train_core(root)
    return root


def shell(project: Path, stdin: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", SHELL, "--endpoints", "none.yml", *args], cwd=project,
                          input=stdin, capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_shell_talks_and_quits(project: Path) -> None:
    out = shell(project, '/greet\n/track_order\n/inform{"order_id": "A12345"}\n/stop\n')
    assert "Hi!" in out and "Order number?" in out and "Looking up A12345." in out


def test_shell_debug_shows_parse_slots_and_votes(project: Path) -> None:
    out = shell(project, '/greet\n/track_order\n/inform{"order_id": "A1"}\n', "--debug")
    assert "intent greet (1.00)" in out
    assert "order_id='A1'" in out
    assert "utter_greet" in out and "RulePolicy" in out and "MemoizationPolicy" in out
