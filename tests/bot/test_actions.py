"""Built-in actions and action_extract_slots (Rasa's semantics), run directly on trackers."""

from __future__ import annotations

from typing import Any

from dialogue_support import shop_domain

from bot import events as ev
from bot.actions import action_for_name
from bot.actions.action import ActionBotResponse, ActionDefaultFallback, ActionSessionStart
from bot.actions.extract_slots import ActionExtractSlots
from bot.actions.handoff import ActionHandoff
from bot.actions.two_stage_fallback import TwoStageFallbackAction
from bot.channels.base import CollectingOutputChannel
from bot.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from bot.domain import Domain
from bot.nlg import TemplatedNLG
from bot.tracker import DialogueStateTracker


def user(intent: str | None, entities: list[dict[str, Any]] | None = None, text: str | None = None,
         sentiment: str | None = None, ranking: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    parse = {"intent": {"name": intent, "confidence": 1.0}, "entities": entities or [],
             "intent_ranking": ranking or [{"name": intent, "confidence": 1.0}]}
    if sentiment:
        parse["sentiment"] = {"label": sentiment, "confidence": 0.9, "scores": {sentiment: 0.9}}
    return ev.UserUttered(text if text is not None else f"/{intent}", parse)


def tracker_of(domain: Domain, *events: dict[str, Any]) -> DialogueStateTracker:
    return DialogueStateTracker.from_domain("t1", domain, [ev.ActionExecuted(ACTION_LISTEN_NAME), *events])


async def run(action: Any, tracker: DialogueStateTracker, domain: Domain) -> list[dict[str, Any]]:
    return await action.run(CollectingOutputChannel(), TemplatedNLG(domain.responses, seed=0), tracker, domain)


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


MAPPING_DOMAIN = Domain.from_dict({
    "intents": ["inform", "affirm", "deny", "greet", "buy", "chitchat"],
    "entities": ["order_id", {"city": {"roles": ["from", "to"]}}, "email"],
    "slots": {
        "order_id": {"type": "text", "mappings": [{"type": "from_entity", "entity": "order_id", "not_intent": "greet"}]},
        "departure": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city", "role": "from"}]},
        "destination": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city", "role": "to"}]},
        "any_city": {"type": "list", "mappings": [{"type": "from_entity", "entity": "city", "intent": "inform"}]},
        "confirmed": {"type": "bool", "mappings": [
            {"type": "from_intent", "intent": "affirm", "value": True,
             "conditions": [{"active_loop": "f", "requested_slot": "confirmed"}]},
            {"type": "from_intent", "intent": "deny", "value": False,
             "conditions": [{"active_loop": "f", "requested_slot": "confirmed"}]}]},
        "note": {"type": "text", "mappings": [{"type": "from_text", "conditions": [{"active_loop": "f", "requested_slot": "note"}]}]},
        "wants": {"type": "text", "mappings": [{"type": "from_trigger_intent", "intent": "buy", "value": "yes"}]},
        "email": {"type": "text", "mappings": [{"type": "from_entity", "entity": "email"}]},
        "email2": {"type": "text", "mappings": [{"type": "from_entity", "entity": "email"}]},
        "sentiment": {"type": "categorical", "values": ["neutral", "angry"], "mappings": [{"type": "custom"}]},
    },
    "forms": {"f": {"required_slots": ["confirmed", "note", "email", "email2"], "ignored_intents": ["chitchat"]}},
})


async def test_from_entity_matches_roles_exactly_and_respects_not_intent() -> None:
    d = MAPPING_DOMAIN
    cities = [{"entity": "city", "value": "Berlin", "role": "from"}, {"entity": "city", "value": "Paris", "role": "to"}]
    slots = slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform", cities)), d))
    assert slots["departure"] == "Berlin" and slots["destination"] == "Paris"
    assert "any_city" not in slots  # the mapping has no role, the entities have one
    plain = [{"entity": "city", "value": "Rome"}, {"entity": "city", "value": "Oslo"}]
    assert slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform", plain)), d))["any_city"] == ["Rome", "Oslo"]
    order = [{"entity": "order_id", "value": "A1"}]
    assert "order_id" not in slots_of(await run(ActionExtractSlots(), tracker_of(d, user("greet", order)), d))
    assert slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform", order)), d))["order_id"] == "A1"


async def test_conditions_need_the_active_loop_and_requested_slot() -> None:
    d = MAPPING_DOMAIN
    outside = tracker_of(d, user("affirm"))
    assert "confirmed" not in slots_of(await run(ActionExtractSlots(), outside, d))
    inside = tracker_of(d, ev.ActiveLoop("f"), ev.SlotSet(REQUESTED_SLOT, "confirmed"), user("deny"))
    assert slots_of(await run(ActionExtractSlots(), inside, d))["confirmed"] is False
    wrong_slot = tracker_of(d, ev.ActiveLoop("f"), ev.SlotSet(REQUESTED_SLOT, "note"), user("affirm", text="yes sure"))
    slots = slots_of(await run(ActionExtractSlots(), wrong_slot, d))
    assert "confirmed" not in slots and slots["note"] == "yes sure"


async def test_form_ignored_intents_block_mappings() -> None:
    d = MAPPING_DOMAIN
    tracker = tracker_of(d, ev.ActiveLoop("f"), ev.SlotSet(REQUESTED_SLOT, "note"), user("chitchat", text="lol"))
    assert "note" not in slots_of(await run(ActionExtractSlots(), tracker, d))


async def test_trigger_intent_only_fills_before_a_loop_is_active() -> None:
    d = MAPPING_DOMAIN
    assert slots_of(await run(ActionExtractSlots(), tracker_of(d, user("buy")), d))["wants"] == "yes"
    active = tracker_of(d, ev.ActiveLoop("f"), user("buy"))
    assert "wants" not in slots_of(await run(ActionExtractSlots(), active, d))


async def test_shared_entity_mapping_only_fills_the_requested_form_slot() -> None:
    d = MAPPING_DOMAIN
    mail = [{"entity": "email", "value": "a@b.c"}]
    tracker = tracker_of(d, ev.ActiveLoop("f"), ev.SlotSet(REQUESTED_SLOT, "email2"), user("inform", mail))
    slots = slots_of(await run(ActionExtractSlots(), tracker, d))
    assert slots.get("email2") == "a@b.c" and "email" not in slots
    no_form = slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform", mail)), d))
    assert no_form["email"] == "a@b.c" and no_form["email2"] == "a@b.c"


async def test_sentiment_slot_follows_the_nlu_label() -> None:
    d = MAPPING_DOMAIN
    slots = slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform", sentiment="angry")), d))
    assert slots["sentiment"] == "angry"
    assert "sentiment" not in slots_of(await run(ActionExtractSlots(), tracker_of(d, user("inform")), d))


async def test_session_start_carries_slots_over_and_ends_with_listen() -> None:
    d = shop_domain()
    tracker = tracker_of(d, user("inform"), ev.SlotSet("order_id", "A12345"))
    events = await run(ActionSessionStart({"device": "ios"}), tracker, d)
    assert events[0]["event"] == "session_started"
    assert slots_of(events) == {"order_id": "A12345", "session_started_metadata": {"device": "ios"}}
    assert events[-1] == {**events[-1], "event": "action", "name": "action_listen"}
    no_carry = shop_domain(session_config={"session_expiration_time": 60, "carry_over_slots_to_new_session": False})
    assert "order_id" not in slots_of(await run(ActionSessionStart(), tracker, no_carry))


async def test_default_fallback_utters_and_reverts() -> None:
    d = shop_domain()
    events = await run(ActionDefaultFallback(), tracker_of(d, user("nlu_fallback")), d)
    assert [e["event"] for e in events] == ["bot", "rewind"]
    assert events[0]["text"] == "Sorry, I didn't get that."


async def test_deactivate_loop_and_back_and_restart() -> None:
    d = shop_domain()
    tracker = tracker_of(d, ev.ActiveLoop("track_form"), ev.SlotSet(REQUESTED_SLOT, "email"), user("deny"))
    events = await run(action_for_name("action_deactivate_loop", d, None), tracker, d)
    tracker.update_with_events(events)
    assert tracker.active_loop_name is None and tracker.get_slot(REQUESTED_SLOT) is None
    back = await run(action_for_name("action_back", d, None), tracker, d)
    assert [e["event"] for e in back] == ["rewind", "rewind"]
    restart = await run(action_for_name("action_restart", d, None), tracker, d)
    assert restart[-1]["event"] == "restart"


def test_action_lookup_follows_rasa_order() -> None:
    d = shop_domain()
    assert type(action_for_name("action_listen", d, None)).__name__ == "ActionListen"
    assert isinstance(action_for_name("utter_greet", d, None), ActionBotResponse)
    assert type(action_for_name("track_form", d, None)).__name__ == "FormAction"
    assert type(action_for_name("action_check_order", d, None)).__name__ == "RemoteAction"
    overriding = shop_domain(actions=["action_default_fallback"])
    assert type(action_for_name("action_default_fallback", overriding, None)).__name__ == "RemoteAction"


async def test_two_stage_fallback_affirm_then_rephrase_then_give_up() -> None:
    d = shop_domain()
    factory = lambda name: action_for_name(name, d, None)  # noqa: E731
    ranking = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "track_order", "confidence": 0.3}]
    tracker = tracker_of(d, user("nlu_fallback", text="wher my parcl", ranking=ranking))
    first = await run(TwoStageFallbackAction(factory), tracker, d)
    assert first[0] == {**first[0], "event": "active_loop", "name": "action_two_stage_fallback"}
    ask = next(e for e in first if e["event"] == "bot")
    assert ask["text"] == "Did you mean 'track_order'?"
    assert [b["payload"] for b in ask["data"]["buttons"]] == ["/track_order", "/out_of_scope"]
    tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *first,
                                ev.ActionExecuted(ACTION_LISTEN_NAME), user("out_of_scope")])
    second = await run(TwoStageFallbackAction(factory), tracker, d)
    assert [e.get("text") for e in second if e["event"] == "bot"] == ["Could you rephrase?"]
    assert not any(e["event"] == "active_loop" for e in second)
    tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *second,
                                ev.ActionExecuted(ACTION_LISTEN_NAME), user("nlu_fallback", text="???")])
    third = await run(TwoStageFallbackAction(factory), tracker, d)
    assert [e.get("text") for e in third if e["event"] == "bot"] == ["Did you mean 'nlu_fallback'?"]
    tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *third,
                                ev.ActionExecuted(ACTION_LISTEN_NAME), user("out_of_scope")])
    fourth = await run(TwoStageFallbackAction(factory), tracker, d)  # second affirmation failed: give up
    kinds = [e["event"] for e in fourth]
    assert kinds[0] == "active_loop" and fourth[0]["name"] is None
    assert "rewind" in kinds and [e.get("text") for e in fourth if e["event"] == "bot"] == ["Sorry, I didn't get that."]


async def test_two_stage_fallback_clarified_message_is_replayed() -> None:
    d = shop_domain()
    factory = lambda name: action_for_name(name, d, None)  # noqa: E731
    tracker = tracker_of(d, user("nlu_fallback", text="hmm"), ev.ActionExecuted("action_two_stage_fallback"),
                         ev.ActiveLoop("action_two_stage_fallback"), ev.ActionExecuted(ACTION_LISTEN_NAME),
                         user("greet", text="/greet"))
    events = await run(TwoStageFallbackAction(factory), tracker, d)
    assert [e["event"] for e in events] == ["active_loop", "rewind", "rewind", "action", "user"]
    assert events[-1]["parse_data"]["intent"] == {"name": "greet", "confidence": 1.0}
    tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *events])
    # the whole fallback is undone: no active loop, the clarified message follows a plain listen
    assert tracker.active_loop_name is None
    assert [e["event"] for e in tracker.applied_events()][-2:] == ["action", "user"]
    assert [e.get("text") for e in tracker.applied_events() if e["event"] == "user"] == ["/greet"]


async def test_two_stage_fallback_after_a_rephrase_request_leaves_no_loop_behind() -> None:
    """unclear → "did you mean?" → "no" (rephrase request) → a clear message: the loop must be over,
    or the ensemble's loop rule runs the fallback again and again (a shopper got no reply)."""
    d = shop_domain()
    factory = lambda name: action_for_name(name, d, None)  # noqa: E731
    tracker = tracker_of(d, user("nlu_fallback", text="sup"))
    for reply in (user("out_of_scope", text="how do I boil an egg"), user("greet", text="hello")):
        events = await run(TwoStageFallbackAction(factory), tracker, d)
        tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *events,
                                    ev.ActionExecuted(ACTION_LISTEN_NAME), reply])
    last = await run(TwoStageFallbackAction(factory), tracker, d)
    assert [e["event"] for e in last].count("rewind") == 3  # the unclear message and both replies
    tracker.update_with_events([ev.ActionExecuted("action_two_stage_fallback"), *last])
    assert tracker.active_loop_name is None
    assert [e.get("text") for e in tracker.applied_events() if e["event"] == "user"] == ["hello"]


async def test_handoff_pauses_records_reason_and_tells_the_shopper() -> None:
    d = shop_domain()
    tracker = tracker_of(d, ev.ActiveLoop("track_form"), user("human_agent"))
    events = await run(ActionHandoff("anger"), tracker, d)
    tracker.update_with_events(events)
    assert events[0]["text"] == "Connecting you to a human."
    assert tracker.paused and tracker.is_handed_off and tracker.handoff_reason == "anger"
    assert tracker.active_loop_name is None
    no_response = shop_domain(responses={})
    default = await run(ActionHandoff(), tracker_of(no_response, user("human_agent")), no_response)
    assert "member of our team" in default[0]["text"]
