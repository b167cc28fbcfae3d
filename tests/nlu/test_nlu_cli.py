"""``kefu train nlu`` and ``kefu test nlu`` end to end on the tiny project (Rasa's results/ layout)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from nlu_support import TINY_NLU, no_network, tiny_config

from bot.cli import main
from bot.commands.nlu_cmd import ModelNotFound, resolve_model


def _config(tmp_path: Path, **transformer: object) -> Path:
    config = {"recipe": "default.v1", "language": "en", "pipeline": tiny_config(**transformer)}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_train_then_test_writes_rasa_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, epochs=6, sentiment_corpus=False, validation_fraction=0.2)
    models = tmp_path / "models"
    with no_network():
        code = main(["train", "nlu", "--config", str(config), "--data", str(TINY_NLU), "--out", str(models),
                     "--seed", "3", "--fixed-model-name", "tiny", "--quantize", "int8", "--no-progress"])
    assert code == 0
    folder = models / "tiny"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 3 and len(manifest["data"]["fingerprint_sha256"]) == 64
    assert {"torch", "kefu", "python"} <= set(manifest["versions"])
    assert "faq/returns_policy" in manifest["labels"]["intents"]
    assert manifest["backend_check"]["backend"] == "int8"  # int8's accuracy delta is measured
    assert "accuracy_delta" in manifest["backend_check"]
    assert "int8: validation accuracy" in capsys.readouterr().out or manifest["backend_check"]["examples"] == 0

    results = tmp_path / "results"
    assert main(["test", "nlu", "--nlu", str(TINY_NLU), "-m", str(models), "--out", str(results), "--successes"]) == 0
    report = json.loads((results / "intent_report.json").read_text(encoding="utf-8"))
    assert {"accuracy", "macro avg", "weighted avg"} <= set(report)
    row = report["track_order"]
    assert {"precision", "recall", "f1-score", "support", "confused_with"} <= set(row)
    assert row["support"] == 12
    assert report["faq"]["support"] == 12  # retrieval intents are scored by their base intent
    for name in ("intent_confusion_matrix.png", "intent_histogram.png", "intent_errors.json", "intent_successes.json",
                 "sentiment_report.json", "response_selection_report.json",
                 "KefuTransformerClassifier_report.json", "KefuTransformerClassifier_errors.json",
                 "KefuTransformerClassifier_role_group_report.json", "RegexEntityExtractor_report.json"):
        assert (results / name).is_file(), name
    assert (results / "intent_confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    entity_report = json.loads((results / "KefuTransformerClassifier_report.json").read_text(encoding="utf-8"))
    assert "city" in entity_report and "no_entity" not in entity_report
    roles = json.loads((results / "KefuTransformerClassifier_role_group_report.json").read_text(encoding="utf-8"))
    assert "city (role=from)" in roles
    out = capsys.readouterr().out
    assert "intent accuracy" in out


def test_cross_validation_writes_fold_summary(tmp_path: Path) -> None:
    config = _config(tmp_path, epochs=3, trainable_layers=0, sentiment_corpus=False)
    results = tmp_path / "cv"
    code = main(["test", "nlu", "--nlu", str(TINY_NLU), "--cross-validation", "--folds", "2",
                 "--config", str(config), "--out", str(results)])
    assert code == 0
    summary = json.loads((results / "cross_validation_summary.json").read_text(encoding="utf-8"))
    assert summary["folds"] == 2 and len(summary["per_fold"]) == 2
    report = json.loads((results / "intent_report.json").read_text(encoding="utf-8"))
    assert report["track_order"]["support"] == 12  # every example is tested exactly once


def test_model_resolution(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        resolve_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound):
        resolve_model(tmp_path / "empty")
    older = tmp_path / "models" / "nlu-20240101-000000"
    newer = tmp_path / "models" / "20250101-000000" / "nlu"  # the nlu/ part of a full `kefu train` model
    for folder in (older, newer):
        folder.mkdir(parents=True)
        (folder / "pipeline.json").write_text("{}", encoding="utf-8")
    import os

    os.utime(older / "pipeline.json", (1, 1))
    assert resolve_model(tmp_path / "models") == newer
    assert resolve_model(older) == older
