"""The ``kefu`` command line: help, init, and clean errors instead of tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_rasa_shaped_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    for command in ("init", "data", "train", "shell", "run", "test", "sim"):
        assert command in result.stdout


def test_init_scaffolds_a_project_that_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "shop"
    assert main(["init", str(target), "--no-prompt"]) == 0
    for name in ("domain.yml", "config.yml", "endpoints.yml", "credentials.yml", "data/nlu.yml", "tests/test_stories.yml"):
        assert (target / name).is_file(), name
    monkeypatch.chdir(target)
    assert main(["data", "validate"]) == 0
    # a second init refuses to overwrite, with a message instead of a traceback
    assert main(["init", str(target)]) == 1
    assert "already holds project files" in capsys.readouterr().err
