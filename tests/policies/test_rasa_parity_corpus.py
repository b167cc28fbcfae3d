"""The parity corpus (public Rasa 3.x assistants in tests/fixtures/rasa_parity): unchanged files validate as Rasa's
validator judges them (no errors), the dialogue model trains, and the test stories pass.

Rasa 3.6.21 itself was measured on the same files by ``benchmarks/rasa_parity.py`` (figures in
``benchmarks/results/rasa_parity.md``); these tests keep Kefu's side from sliding back without needing Rasa.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.loaders.training_files import load_training_data
from bot.project import load_project
from bot.validator import validate_project
from policies.ensemble import PolicyEnsemble
from policies.evaluation import evaluate_stories

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "rasa_parity"
ASSISTANTS = sorted(p.name for p in CORPUS.iterdir() if (p / "domain.yml").is_file())
# Least share of test conversations with every action right, per assistant with test stories
# (Rasa 3.6.21 on the same stories, benchmarks/results/rasa_parity.md: formbot 1.0, kefu_features 0.33, e2ebot 0.75
# with Rasa's default pipeline, since its own needs Hugging Face weights).
# kefu_features: 4 of its 6 stories are decided by rules and memoization; the two insurance branches hinge on the
# ML policy generalising from checkpoint-joined stories (confidence 0.44-0.62 on this machine, one right, one wrong),
# which can flip with the CPU's arithmetic, so the bound is 4 of 6.
CONVERSATION_ACCURACY = {"formbot": 1.0, "e2ebot": 1.0, "kefu_features": 4 / 6}


def test_corpus_has_every_assistant_with_its_source() -> None:
    assert len(ASSISTANTS) >= 7
    for name in ASSISTANTS:
        source = (CORPUS / name / "SOURCE.txt").read_text(encoding="utf-8")
        assert "Apache-2.0" in source, f"{name}: SOURCE.txt must name the licence"


@pytest.mark.parametrize("name", ASSISTANTS)
def test_assistant_validates_without_errors(name: str) -> None:
    project = load_project(root=CORPUS / name)
    errors = [str(p) for p in validate_project(project) if p.is_error]
    assert not errors, errors


@pytest.mark.parametrize("name", sorted(CONVERSATION_ACCURACY))
def test_assistant_passes_its_test_stories(name: str) -> None:
    root = CORPUS / name
    project = load_project(root=root)
    ensemble = PolicyEnsemble.from_config(project.config.policies, project.domain, seed=0)
    ensemble.learn(project.training.stories, project.domain)
    tests = load_training_data([root / "tests"])
    assert not tests.errors, [str(p) for p in tests.errors]
    result = evaluate_stories(ensemble, tests.stories.stories, project.domain)
    failed = [f"{r.step.story}: expected {r.step.expected_action}, got {r.predicted_action}" for r in result.failed]
    assert result.conversation_accuracy >= CONVERSATION_ACCURACY[name], failed
