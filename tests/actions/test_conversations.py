"""Whole conversations with the demo shop, as a shopper has them: ``tests/test_conversations.yml`` (Rasa's
test-story format: what the shopper types, the intent it means, the actions the bot runs) played end to end by
``kefu test core --e2e`` against the model ``kefu train`` makes, the real rasa-sdk action server and the real order
and recommendation services. Every task, typos, corrections, context switches, offers answered in words, unknown
data, angry and anxious shoppers, English, Chinese and both in one message."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from conftest import REPO_ROOT, Stack

from bot.commands import test_core_cmd
from bot.loaders.training_files import load_training_data

CONVERSATIONS = REPO_ROOT / "tests" / "test_conversations.yml"


def test_the_conversations_cover_every_task_and_both_languages() -> None:
    stories = load_training_data([CONVERSATIONS]).stories.stories
    assert len(stories) >= 40
    steps = [step for story in stories for step in story.steps]
    intents = {step.intent for step in steps if getattr(step, "intent", None)}
    domain = yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))
    tasks = {"track_order", "cancel_order", "return_item", "refund_status", "change_address", "recommend_product",
             "product_question", "complaint", "human_agent"}
    assert tasks <= intents <= set(domain["intents"]) | {"nlu_fallback"}
    texts = [step.text or "" for step in steps if getattr(step, "text", None)]
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in texts) >= 15  # Chinese turns


def test_every_conversation_goes_as_written(demo_model: Path, stack: Stack, tmp_path: Path) -> None:
    endpoints = yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"] = {"url": f"{stack.actions_url}/webhook"}
    (tmp_path / "endpoints.yml").write_text(yaml.safe_dump(endpoints), encoding="utf-8")
    args = argparse.Namespace(stories=[str(CONVERSATIONS)], model=str(demo_model), out=str(tmp_path / "results"),
                              e2e=True, endpoints=str(tmp_path / "endpoints.yml"), successes=False,
                              fail_on_prediction_errors=True)
    code = test_core_cmd.run(args)
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert code == 0, failed.read_text(encoding="utf-8") if failed.exists() else "see the reports"
    report = json.loads((tmp_path / "results" / "story_report.json").read_text(encoding="utf-8"))
    assert report  # every action of every conversation was compared
