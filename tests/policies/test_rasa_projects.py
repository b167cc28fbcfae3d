"""Real Rasa 3 projects: train the configured policies on their data and test their test stories.

* Rasa's helpdesk-assistant (../shared/data/rasa_helpdesk_assistant): at least 95 % of the actions of
  tests/test_conversations.yml must be predicted right (the figure is printed).
* ``rasa init``'s moodbot (../shared/data/rasa_reference/.../initial_project, empty policies = Rasa's
  defaults) and Kefu's demo shop (this repository's domain.yml, data/, tests/test_stories.yml): 100 %.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.loaders.training_files import load_training_data
from bot.project import load_project
from policies.ensemble import PolicyEnsemble
from policies.evaluation import evaluate_stories

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
HELPDESK = SHARED / "data" / "rasa_helpdesk_assistant"
MOODBOT = SHARED / "data" / "rasa_reference" / "rasa" / "cli" / "initial_project"


def _evaluate(root: Path, tests: Path):
    project = load_project(root=root)
    assert not project.errors, [str(p) for p in project.errors]
    ensemble = PolicyEnsemble.from_config(project.config.policies, project.domain)
    ensemble.learn(project.training.stories, project.domain)
    test_data = load_training_data([tests])
    assert not test_data.errors, [str(p) for p in test_data.errors]
    return evaluate_stories(ensemble, test_data.stories.stories, project.domain)


def _report(name: str, result) -> str:
    failed = "; ".join(
        f"{r.step.story}: expected {r.step.expected_action}, got {r.predicted_action} ({r.prediction.policy_name})"
        for r in result.failed
    )
    return (f"{name}: {sum(r.correct for r in result.results)}/{len(result.results)} actions right "
            f"({result.accuracy:.1%}), conversations {result.conversation_accuracy:.1%}" + (f" | {failed}" if failed else ""))


@pytest.mark.skipif(not HELPDESK.is_dir(), reason=f"{HELPDESK} is absent (the shared Rasa fixture projects)")
def test_helpdesk_assistant_test_conversations():
    result = _evaluate(HELPDESK, HELPDESK / "tests")
    print("\n" + _report("helpdesk-assistant", result))
    assert len(result.results) >= 50
    assert result.accuracy >= 0.95, _report("helpdesk-assistant", result)


@pytest.mark.skipif(not MOODBOT.is_dir(), reason=f"{MOODBOT} is absent (the shared Rasa fixture projects)")
def test_rasa_init_moodbot_with_default_policies():
    result = _evaluate(MOODBOT, MOODBOT / "tests")
    print("\n" + _report("moodbot", result))
    assert result.accuracy == 1.0, _report("moodbot", result)


def test_demo_shop_test_stories():
    result = _evaluate(REPO_ROOT, REPO_ROOT / "tests" / "test_stories.yml")
    print("\n" + _report("demo shop", result))
    assert result.accuracy == 1.0, _report("demo shop", result)
