"""The turn loop with in-memory stores, a scripted policy and no action server."""

from __future__ import annotations

import time
from typing import Any

import pytest
from dialogue_support import ScriptedPolicy, shop_agent

from bot import events as ev
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.processor import HandoffSettings, MessageProcessor, anger_streak, fallback_streak
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore


class FakeNLU:
    """Parses 'angry ...' as complaint with anger, '???' as nlu_fallback, else greet."""

    def __init__(self) -> None:
        self.calls = 0

    def parse(self, text: str) -> dict[str, Any]:
        self.calls += 1
        intent, label = "greet", "neutral"
        if text.startswith("angry"):
            intent, label = "complaint", "angry"
        elif text.startswith("???"):
            intent = "nlu_fallback"
        return {"text": text, "intent": {"name": intent, "confidence": 0.9},
                "intent_ranking": [{"name": intent, "confidence": 0.9}], "entities": [],
                "sentiment": {"label": label, "confidence": 0.8, "scores": {label: 0.8}}}


def make_processor(agent: Any = None, **kwargs: Any) -> MessageProcessor:
    agent = agent or shop_agent()
    return MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), **kwargs)


async def say(processor: MessageProcessor, text: str, sender: str = "u1", **kwargs: Any) -> list[dict[str, Any]]:
    channel = CollectingOutputChannel()
    await processor.handle_message(UserMessage(text, sender, input_channel="rest", **kwargs), channel)
    return channel.messages


def names(tracker: Any) -> list[str]:
    return [e["name"] if e["event"] == "action" else e["event"] for e in tracker.events
            if e["event"] in ("action", "user", "session_started", "bot")]


async def test_first_message_starts_a_session_then_greets() -> None:
    processor = make_processor()
    messages = await say(processor, "/greet")
    assert messages == [{"recipient_id": "u1", "text": "Hi! How can I help?"}]
    tracker = await processor.get_tracker("u1")
    assert names(tracker) == ["action_session_start", "session_started", "action_listen", "user",
                              "utter_greet", "bot", "action_listen"]
    action = next(e for e in tracker.events if e["event"] == "action" and e["name"] == "utter_greet")
    assert action["policy"] == "ScriptedPolicy"
    assert tracker.latest_input_channel == "rest"


async def test_payload_entities_fill_slots_and_nlu_is_skipped() -> None:
    nlu = FakeNLU()
    agent = shop_agent()
    agent.interpreter = nlu
    processor = make_processor(agent)
    await say(processor, '/inform{"order_id": "A12345"}')
    assert nlu.calls == 0
    assert (await processor.get_tracker("u1")).get_slot("order_id") == "A12345"
    await say(processor, "hello there")
    assert nlu.calls == 1
    tracker = await processor.get_tracker("u1")
    assert tracker.get_slot("sentiment") == "neutral"
    assert tracker.latest_message["sentiment"]["label"] == "neutral"


async def test_expired_session_starts_a_new_one_and_carries_slots() -> None:
    processor = make_processor()
    await say(processor, '/inform{"order_id": "A12345"}')
    tracker = await processor.get_tracker("u1")
    old = [dict(e, timestamp=e["timestamp"] - 2 * 3600) for e in tracker.events]
    await processor.append_events("u1", old, replace=True)
    await say(processor, "/greet")
    tracker = await processor.get_tracker("u1")
    assert sum(e["event"] == "session_started" for e in tracker.events) == 2
    assert tracker.get_slot("order_id") == "A12345"
    assert [e["event"] for e in tracker.applied_events()][:1] == ["session_started"]


async def test_missing_action_server_gives_polite_reply_and_error_event() -> None:
    processor = make_processor()
    messages = await say(processor, "/boom")
    assert len(messages) == 1 and "went wrong" in messages[0]["text"]
    tracker = await processor.get_tracker("u1")
    error = next(e for e in tracker.events if e["event"] == "kefu_action_error")
    assert error["name"] == "action_boom" and "action_endpoint" in error["message"]
    assert tracker.latest_action_name == "action_listen"


async def test_requested_handoff_pauses_and_queues_then_resume() -> None:
    processor = make_processor()
    assert await say(processor, "/human_agent") == [{"recipient_id": "u1", "text": "Connecting you to a human."}]
    await say(processor, "/greet", sender="u2")
    queue = await processor.handoff_queue()
    assert [(q["sender_id"], q["reason"]) for q in queue] == [("u1", "requested")]
    assert await say(processor, "/greet") == []  # paused: recorded, no reply
    tracker = await processor.get_tracker("u1")
    assert tracker.latest_intent == "greet" and tracker.paused
    await processor.resume("u1")
    assert await processor.handoff_queue() == []
    assert await say(processor, "/greet") == [{"recipient_id": "u1", "text": "Hi! How can I help?"}]


async def test_anger_for_n_turns_hands_off() -> None:
    agent = shop_agent(ScriptedPolicy(after_intent={"complaint": ["utter_iamabot"]}))
    agent.interpreter = FakeNLU()
    processor = make_processor(agent, handoff=HandoffSettings(angry_turns=2, max_fallbacks=0))
    assert await say(processor, "angry!!") == [{"recipient_id": "u1", "text": "I'm a bot."}]
    assert anger_streak(await processor.get_tracker("u1")) == 1
    assert await say(processor, "angry again") == [{"recipient_id": "u1", "text": "Connecting you to a human."}]
    tracker = await processor.get_tracker("u1")
    assert tracker.handoff_reason == "anger" and tracker.paused


async def test_calm_turn_resets_the_anger_streak() -> None:
    agent = shop_agent()
    agent.interpreter = FakeNLU()
    processor = make_processor(agent, handoff=HandoffSettings(angry_turns=2))
    await say(processor, "angry!!")
    await say(processor, "hello")
    await say(processor, "angry!!")
    tracker = await processor.get_tracker("u1")
    assert not tracker.paused and anger_streak(tracker) == 1


async def test_repeated_fallbacks_hand_off() -> None:
    agent = shop_agent()
    agent.interpreter = FakeNLU()
    processor = make_processor(agent, handoff=HandoffSettings(angry_turns=0, max_fallbacks=2))
    assert await say(processor, "??? one") == [{"recipient_id": "u1", "text": "Sorry, I didn't get that."}]
    assert fallback_streak(await processor.get_tracker("u1")) == 1
    messages = await say(processor, "??? two")
    assert [m["text"] for m in messages] == ["Sorry, I didn't get that.", "Connecting you to a human."]
    assert (await processor.get_tracker("u1")).handoff_reason == "fallbacks"


async def test_intent_configured_for_handoff_bypasses_the_policy() -> None:
    processor = make_processor(handoff=HandoffSettings(intents=("greet",)))
    assert await say(processor, "/greet") == [{"recipient_id": "u1", "text": "Connecting you to a human."}]


class LoopingPolicy:
    def predict(self, tracker: Any, domain: Any) -> Any:
        return type("P", (), {"action_name": "utter_greet", "policy_name": "Loop", "confidence": 1.0,
                              "events": [], "optional_events": []})()


async def test_max_predictions_guard_stops_a_runaway_policy() -> None:
    processor = make_processor(shop_agent(LoopingPolicy()), max_predictions=4)
    messages = await say(processor, "/greet")
    assert len(messages) == 4


async def test_followup_action_runs_before_the_policy() -> None:
    processor = make_processor()
    await processor.append_events("u1", [ev.ActionExecuted("action_session_start"), ev.SessionStarted(),
                                         ev.ActionExecuted("action_listen")])
    tracker = await processor.get_tracker("u1")
    tracker.update(ev.UserUttered("/bot_challenge", {"intent": {"name": "bot_challenge", "confidence": 1.0}}))
    tracker.update(ev.FollowupAction("utter_greet"))
    assert processor.predict_next_action(tracker).name == "utter_greet"
    assert processor.predict_next_action(tracker).name == "utter_iamabot"


async def test_trigger_intent_runs_with_entities() -> None:
    processor = make_processor()
    channel = CollectingOutputChannel()
    tracker = await processor.trigger_intent("u9", "greet", {"order_id": "A55555"}, channel)
    assert channel.messages[0]["text"] == "Hi! How can I help?"
    assert tracker.get_slot("order_id") == "A55555"
    assert tracker.latest_message["text"] == "EXTERNAL: greet"


async def test_restart_intent_gets_through_a_paused_conversation() -> None:
    policy = ScriptedPolicy(after_intent={"restart": ["action_restart"], "human_agent": ["action_kefu_handoff"]})
    processor = make_processor(shop_agent(policy))
    await say(processor, "/human_agent")
    await say(processor, "/restart")
    tracker = await processor.get_tracker("u1")
    assert not tracker.paused
    assert [e["event"] for e in tracker.events[-2:]] == ["restart", "action"] and tracker.applied_events()[-1]["name"] == "action_listen"
    assert await processor.handoff_queue() == []


@pytest.mark.parametrize("count", [20])
async def test_concurrent_messages_to_one_conversation_do_not_interleave(count: int) -> None:
    import asyncio

    processor = make_processor()
    await asyncio.gather(*(say(processor, "/greet") for _ in range(count)))
    tracker = await processor.get_tracker("u1")
    kinds = [e["name"] if e["event"] == "action" else e["event"] for e in tracker.events]
    assert kinds.count("user") == count
    body = kinds[kinds.index("user"):]
    assert body == ["user", "utter_greet", "bot", "action_listen"] * count
    assert time.time() - tracker.events[0]["timestamp"] < 60


def test_dialogue_engine_imports_no_http_stack() -> None:
    import subprocess
    import sys

    code = ("import sys, bot.processor, bot.actions, bot.agent, bot.nlg, bot.model_archive, bot.core_test; "
            "print('aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


class AngryFormNLU:
    """Every message angry: 'track A12345' asks to track that order, 'mail x@y.z' gives the email."""

    def parse(self, text: str) -> dict[str, Any]:
        intent, entities = "inform", []
        if text.startswith("track "):
            intent, entities = "track_order", [{"entity": "order_id", "value": text.split()[1]}]
        elif text.startswith("mail "):
            entities = [{"entity": "email", "value": text.split()[1]}]
        return {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities,
                "intent_ranking": [{"name": intent, "confidence": 0.9}],
                "sentiment": {"label": "angry", "confidence": 0.9, "scores": {"angry": 0.9}}}


async def test_an_angry_shopper_who_completes_the_form_hears_the_answer_before_the_handoff() -> None:
    policy = ScriptedPolicy(after_intent={"track_order": ["track_form"]}, after_loop={"track_form": ["utter_status"]})
    agent = shop_agent(policy, actions=[])  # the form without a validation action (no action server here)
    agent.interpreter = AngryFormNLU()
    processor = make_processor(agent, handoff=HandoffSettings(angry_turns=2, max_fallbacks=0))
    assert [m["text"] for m in await say(processor, "track A12345")] == ["Which email did you use?"]
    # the second angry turn completes the form: the answer first, then the colleague
    texts = [m["text"] for m in await say(processor, "mail mia@x.com")]
    assert texts == ["Order A12345: None", "Connecting you to a human."]
    tracker = await processor.get_tracker("u1")
    assert tracker.paused and tracker.handoff_reason == "anger"
    # an angry shopper with the form still open is handed off at once, as before
    await processor.resume("u1")
    other = make_processor(agent, handoff=HandoffSettings(angry_turns=2, max_fallbacks=0))
    await say(other, "track A12345", sender="u2")
    assert [m["text"] for m in await say(other, "whatever", sender="u2")] == ["Connecting you to a human."]
