"""kefu train (model folder, fingerprints, reuse) and kefu test core (Rasa's report files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from tiny_project import train_core, write_project

from bot.commands import test_core_cmd, train_cmd
from bot.model_archive import load_model, pack_model, train_model
from bot.project import load_project


def fake_trainers(calls: list[str]) -> dict[str, Any]:
    def make(part: str) -> Any:
        def train(project: Any, target: Path, seed: int) -> None:
            calls.append(part)
            target.mkdir(parents=True)
            (target / "weights.txt").write_text(f"{part} {seed}")
        return train
    return {"nlu": make("nlu"), "core": make("core")}


def test_unchanged_parts_are_reused_and_nothing_changed_writes_nothing(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    calls: list[str] = []
    first = train_model(load_project(root=root), root / "models", trainers=fake_trainers(calls))
    assert sorted(first.trained) == ["core", "nlu"] and calls == ["nlu", "core"]
    meta = json.loads((first.path / "metadata.json").read_text())
    assert meta["model_id"] and (first.path / "domain.yml").exists() and (first.path / "fingerprint.json").exists()

    again = train_model(load_project(root=root), root / "models", trainers=fake_trainers(calls))
    assert again.unchanged and again.path == first.path and calls == ["nlu", "core"]

    (root / "data" / "rules.yml").write_text((root / "data" / "rules.yml").read_text().replace("rule: bye", "rule: bye bye"))
    stories_changed = train_model(load_project(root=root), root / "models", trainers=fake_trainers(calls))
    assert stories_changed.trained == ["core"] and stories_changed.reused == ["nlu"]
    assert (stories_changed.path / "nlu" / "weights.txt").read_text() == "nlu 42"

    forced = train_model(load_project(root=root), root / "models", trainers=fake_trainers(calls), force=True)
    assert sorted(forced.trained) == ["core", "nlu"]


def test_trained_model_loads_predicts_and_loads_from_archive(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    model = train_core(root)
    agent = load_model(root / "models")  # a folder of models: the newest
    assert agent.model_path == str(model) and agent.interpreter is None
    assert "track_form" in agent.domain.forms
    archive = pack_model(model, tmp_path / "model.tar.gz")
    assert load_model(archive).model_id == agent.model_id


def test_train_command_reports_errors_and_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = write_project(tmp_path)
    monkeypatch.chdir(root)
    parser = argparse.ArgumentParser()
    train_cmd.add_args(parser)
    assert train_cmd.run_core(parser.parse_args([])) == 0
    assert "Trained core" in capsys.readouterr().out
    assert train_cmd.run_core(parser.parse_args([])) == 0
    assert "Nothing changed" in capsys.readouterr().out
    (root / "data" / "stories.yml").write_text('version: "3.1"\nstories:\n- story: x\n  steps:\n  - intent: nope\n'
                                               '  - action: utter_greet\n  - active_loop: nope_form\n')
    assert train_cmd.run_core(parser.parse_args([])) == 1
    out = capsys.readouterr().out
    assert "warning: unknown intent 'nope'" in out  # a warning, as in Rasa: alone it would not stop training
    assert "error: unknown form 'nope_form'" in out


def test_test_core_writes_rasa_reports_and_marks_the_wrong_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path)
    train_core(root)
    monkeypatch.chdir(root)
    parser = argparse.ArgumentParser()
    test_core_cmd.add_args(parser)
    args = parser.parse_args(["--stories", "tests", "-m", "models", "--out", "results", "--successes",
                              "--fail-on-prediction-errors"])
    assert test_core_cmd.run(args) == 1
    report = json.loads((root / "results" / "story_report.json").read_text())
    assert report["conversation_accuracy"] == {"accuracy": 2 / 3, "correct": 2, "with_warnings": 0, "total": 3}
    assert report["utter_goodbye"]["support"] == 2 and report["utter_goodbye"]["precision"] == 1.0
    assert report["utter_goodbye"]["recall"] == 0.5
    assert {"accuracy", "macro avg", "weighted avg", "micro avg"} <= set(report)
    failed = (root / "results" / "failed_test_stories.yml").read_text()
    assert "test wrong on purpose" in failed and "- action: utter_goodbye  # predicted: utter_greet" in failed
    assert "test track" not in failed
    assert "test track" in (root / "results" / "successful_test_stories.yml").read_text()
    assert (root / "results" / "story_confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    args.fail_on_prediction_errors = False
    assert test_core_cmd.run(args) == 0


def test_demo_shop_passes_its_test_stories(demo_model: Path) -> None:
    """The model `kefu train` makes (its dialogue policy RL-trained) passes every test story."""
    repo = Path(__file__).resolve().parents[2]
    from bot.core_test import evaluate_core
    from bot.loaders.training_files import load_training_data

    agent = load_model(demo_model, load_nlu=False)
    blocks = load_training_data([repo / "tests" / "test_stories.yml"]).stories.stories
    results = evaluate_core(agent, blocks)
    failed = [r.name for r in results if not r.correct]
    assert not failed, f"demo test stories failed: {failed}"


class KeywordNLU:
    def parse(self, text: str) -> dict[str, Any]:
        intent = "greet" if "hello" in text else "inform"
        entities = [{"entity": "order_id", "value": "A12345"}] if "A12345" in text else []
        return {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities,
                "intent_ranking": [{"name": intent, "confidence": 0.9}]}


async def test_e2e_plays_stories_through_the_processor(tmp_path: Path) -> None:
    from bot.core_test import evaluate_e2e, story_report, write_reports
    from bot.loaders.training_files import load_training_data
    from bot.processor import MessageProcessor
    from bot.stores import InMemoryLockStore, InMemoryTrackerStore

    root = write_project(tmp_path)
    agent = load_model(train_core(root))
    agent.interpreter = KeywordNLU()
    blocks = load_training_data([root / "tests" / "test_stories.yml"]).stories.stories
    results = await evaluate_e2e(agent, blocks, lambda: MessageProcessor(
        agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore()))
    assert [r.correct for r in results] == [True, True, False]
    assert story_report(results)["conversation_accuracy"]["correct"] == 2
    write_reports(tmp_path / "out", results)
    assert "# predicted: utter_greet" in (tmp_path / "out" / "failed_test_stories.yml").read_text()
