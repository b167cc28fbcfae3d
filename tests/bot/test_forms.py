"""Forms end to end: activation, validation by a real rasa-sdk ``validate_<form>``, interruptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from dialogue_support import running_action_server, shop_agent

from bot.actions import ActionClient, ActionEndpoint
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.processor import MessageProcessor
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore


@pytest.fixture(scope="module")
def action_url() -> Iterator[str]:
    with running_action_server() as url:
        yield url


@pytest.fixture
async def processor(action_url: str) -> AsyncIterator[MessageProcessor]:
    agent = shop_agent()
    client = ActionClient(ActionEndpoint(action_url, timeout=10))
    yield MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), client)
    await client.close()


async def say(processor: MessageProcessor, text: str, parse_data: dict[str, Any] | None = None) -> list[str]:
    channel = CollectingOutputChannel()
    await processor.handle_message(UserMessage(text, "shopper", parse_data=parse_data), channel)
    return [m.get("text", "") for m in channel.messages]


async def test_form_happy_path_with_validation_and_interruption(processor: MessageProcessor) -> None:
    assert await say(processor, "/track_order") == ["What's your order number?"]
    tracker = await processor.get_tracker("shopper")
    assert tracker.active_loop_name == "track_form" and tracker.requested_slot == "order_id"

    # validate_track_form rejects the value: the slot stays empty and is asked for again
    assert await say(processor, '/inform{"order_id": "B1"}') == [
        "'B1' is not an order number (like A12345).", "What's your order number?"]
    assert (await processor.get_tracker("shopper")).get_slot("order_id") is None

    assert await say(processor, '/inform{"order_id": "A12345"}') == ["Which email did you use?"]
    tracker = await processor.get_tracker("shopper")
    assert tracker.get_slot("order_id") == "A12345" and tracker.requested_slot == "email"

    # nothing extracted: the form rejects, another action answers, then the form asks again
    assert await say(processor, "/bot_challenge") == ["I'm a bot.", "Which email did you use?"]
    tracker = await processor.get_tracker("shopper")
    rejected = [e for e in tracker.events if e["event"] == "action_execution_rejected"]
    assert [e["name"] for e in rejected] == ["track_form"]

    # the last slot: validated (lower-cased), the form completes, the custom action runs
    assert await say(processor, '/inform{"email": "MIA@X.COM"}') == ["Order A12345: shipped"]
    tracker = await processor.get_tracker("shopper")
    assert tracker.get_slot("email") == "mia@x.com"
    assert tracker.active_loop_name is None and tracker.requested_slot is None
    assert tracker.get_slot("order_status") == "shipped"
    actions = [e["name"] for e in tracker.events if e["event"] == "action"]
    assert actions[-3:] == ["track_form", "action_check_order", "action_listen"]


async def test_prefilled_slot_is_validated_at_activation(processor: MessageProcessor) -> None:
    assert await say(processor, '/track_order{"order_id": "nope"}') == [
        "'nope' is not an order number (like A12345).", "What's your order number?"]
    assert await say(processor, '/track_order{"order_id": "A77777"}') == ["Which email did you use?"]


async def test_angry_shopper_gets_the_apologetic_question(processor: MessageProcessor) -> None:
    parse = {"text": "where is my stuff!!", "intent": {"name": "track_order", "confidence": 0.9}, "entities": [],
             "sentiment": {"label": "angry", "confidence": 0.9, "scores": {"angry": 0.9}}}
    assert await say(processor, "where is my stuff!!", parse) == ["I'm so sorry. What's your order number?"]


async def test_ignored_intent_does_not_fill_the_form(processor: MessageProcessor) -> None:
    await say(processor, "/track_order")
    assert await say(processor, '/greet{"order_id": "A12345"}') == ["Hi! How can I help?", "What's your order number?"]
    assert (await processor.get_tracker("shopper")).get_slot("order_id") is None
