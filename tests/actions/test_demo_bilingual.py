"""The demo shop in Chinese and English, end to end: the model `kefu train` makes from the repo's files (with
the encoder and mood adapter the demo ships), the real action server over the real order service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO_ROOT, Stack

from bot.actions import ActionClient, ActionEndpoint
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.model_archive import load_model
from bot.processor import MessageProcessor
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore
from nlu.e5 import E5_NAMES


@pytest.fixture
async def processor(demo_model: Path, stack: Stack) -> AsyncIterator[MessageProcessor]:
    agent = load_model(demo_model, seed=0)
    client = ActionClient(ActionEndpoint(f"{stack.actions_url}/webhook", timeout=10))
    yield MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), client)
    await client.close()


def variations(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((REPO_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"][name]


def variation_text(name: str, **conditions: str) -> str:
    """The text of the variation of ``name`` whose conditions are exactly ``conditions``."""
    for variation in variations(name):
        held = {c["name"]: c["value"] for c in variation.get("condition") or []}
        if held == conditions and not variation.get("channel"):
            return variation["text"]
    raise AssertionError(f"{name} has no variation for {conditions}")


async def say(processor: MessageProcessor, sender: str, text: str) -> list[str]:
    channel = CollectingOutputChannel()
    await processor.handle_message(UserMessage(text, sender), channel)
    return [m.get("text", "") for m in channel.messages]


async def test_the_demo_ships_e5_with_its_mood_adapter(processor: MessageProcessor) -> None:
    classifier = processor.agent.interpreter.classifier
    assert classifier.model_name == E5_NAMES[0] and classifier.mood_layer is not None


async def test_a_chinese_return_request_starts_the_return_form_in_chinese(processor: MessageProcessor) -> None:
    parsed = await processor.parse_message("我想退昨天买的衣服")
    assert parsed["intent"]["name"] == "return_item", parsed["intent_ranking"][:3]
    replies = await say(processor, "zh-return", "我想退昨天买的衣服")
    tracker = await processor.get_tracker("zh-return")
    assert tracker.active_loop_name == "return_form" and tracker.get_slot("language") == "zh"
    mood = tracker.get_slot("sentiment")
    asked = variation_text("utter_ask_order_id", language="zh", **({"sentiment": mood} if mood in ("angry", "anxious") else {}))
    assert replies == [asked]


async def test_an_angry_chinese_complaint_gets_the_apologetic_chinese_variant(processor: MessageProcessor) -> None:
    parsed = await processor.parse_message("太慢了，我很生气！我要投诉")
    assert parsed["intent"]["name"] == "complaint", parsed["intent_ranking"][:3]
    assert parsed["sentiment"]["label"] == "angry", parsed["sentiment"]
    replies = await say(processor, "zh-angry", "太慢了，我很生气！我要投诉")
    assert replies == [variation_text("utter_complaint", sentiment="angry", language="zh")]


async def test_an_order_number_inside_chinese_is_found_and_english_stays_english(processor: MessageProcessor) -> None:
    parsed = await processor.parse_message("订单A12345到哪了")
    assert parsed["intent"]["name"] == "track_order"
    assert [e["value"] for e in parsed["entities"] if e["entity"] == "order_id"] == ["A12345"]
    replies = await say(processor, "en-shopper", "where is my order?")
    assert replies and not any("\u4e00" <= ch <= "\u9fff" for text in replies for ch in text), replies


PHONE_COMPLEMENTS = {"phone case", "screen protector", "charger", "power bank", "earbuds"}


@pytest.mark.parametrize(("sender", "text"), [
    ("phone-en", "I bought a phone, what else do I need?"),
    ("phone-en-2", "I just bought a new phone. What accessories should I get?"),
    ("phone-zh", "我刚买了新手机，需要什么配件？"),
])
async def test_after_a_phone_the_shopper_gets_accessories_never_phones(processor: MessageProcessor, sender: str,
                                                                        text: str) -> None:
    channel = CollectingOutputChannel()
    await processor.handle_message(UserMessage(text, sender), channel)
    picks = next(m["custom"]["recommendations"] for m in channel.messages if m.get("custom"))
    categories = {pick["category"] for pick in picks}
    assert categories and categories <= PHONE_COMPLEMENTS, (text, categories)
    shown = next(m["text"] for m in channel.messages if m.get("text"))
    assert all(pick["title"] in shown for pick in picks)
