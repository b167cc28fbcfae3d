"""Rasa-style states: applied events (with the loop rule), user sub-states and slot features."""

from __future__ import annotations

from policy_support import action, domain_from_yaml, listen, session_start, user

from bot import events as ev
from bot.domain import Slot
from policies.state import (
    applied_events_for_policies,
    is_loop_rejected,
    slot_features,
    state_key,
    tracker_states,
)


def test_states_one_per_action_plus_current(shop_domain):
    events = [listen(), user("greet"), action("utter_greet"), listen()]
    states = tracker_states(events, shop_domain)
    assert len(states) == 4
    assert states[0] == {}
    assert states[1] == {"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}
    assert states[2] == {"user": {"intent": "greet"}, "prev_action": {"action_name": "utter_greet"}}
    assert states[3] == {"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}}
    assert state_key(states[:2]) == state_key([{}, dict(reversed(list(states[1].items())))])


def test_session_start_looks_like_a_story_start(shop_domain):
    live = session_start() + [user("greet")]
    story = [listen(), user("greet")]
    assert tracker_states(live, shop_domain) == tracker_states(story, shop_domain)


def test_entities_roles_and_use_entities():
    domain = domain_from_yaml("""
    intents: [inform, {greet: {use_entities: []}}]
    entities: [{city: {roles: [from, to]}}, name]
    """)
    entities = [{"entity": "city", "value": "Berlin", "role": "from"}, {"entity": "name", "value": "Li"}]
    inform = tracker_states([listen(), user("inform", entities)], domain)[-1]
    assert inform["user"] == {"intent": "inform", "entities": ("city", "city#from", "name")}
    greet = tracker_states([listen(), user("greet", entities)], domain)[-1]
    assert greet["user"] == {"intent": "greet"}


def test_slot_features_by_type():
    assert slot_features(Slot("t", "text"), None) == (0.0,)
    assert slot_features(Slot("t", "text"), "x") == (1.0,)
    assert slot_features(Slot("t", "text", influence_conversation=False), "x") == ()
    assert slot_features(Slot("b", "bool"), False) == (1.0, 0.0)
    assert slot_features(Slot("b", "bool"), "true") == (1.0, 1.0)
    assert slot_features(Slot("f", "float", min_value=0, max_value=10), 15) == (1.0, 1.0)
    assert slot_features(Slot("f", "float", min_value=0, max_value=10), 2.5) == (1.0, 0.25)
    assert slot_features(Slot("l", "list"), []) == (0.0,)
    assert slot_features(Slot("a", "any"), "x") == ()
    sentiment = Slot("sentiment", "categorical")  # no values: Kefu's sentiment labels
    assert slot_features(sentiment, "angry") == (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    assert slot_features(sentiment, "confused") == (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # __other__


def test_slots_in_states(shop_domain):
    events = [listen(), user("complain"), ev.SlotSet("sentiment", "angry", timestamp=0.0),
              ev.SlotSet("order_id", "A1", timestamp=0.0), ev.SlotSet("vip", True, timestamp=0.0)]
    state = tracker_states(events, shop_domain)[-1]
    assert state["slots"] == {"sentiment": (0.0, 0.0, 0.0, 1.0, 0.0, 0.0), "vip": (1.0, 1.0)}


def test_happy_path_form_runs_fold_into_the_first(shop_domain):
    events = [
        listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
        listen(), user("inform", [{"entity": "order_id", "value": "A1"}]), action("order_form"),
        listen(), user("inform", [{"entity": "email", "value": "a@b.c"}]), action("order_form"),
        ev.ActiveLoop(None, timestamp=0.0),
    ]
    applied = applied_events_for_policies(events)
    assert [e.get("name") for e in applied if e["event"] == ev.ACTION] == ["action_listen", "order_form"]
    story = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
             ev.ActiveLoop(None, timestamp=0.0)]
    assert tracker_states(events, shop_domain) == tracker_states(story, shop_domain)


def test_unhappy_path_keeps_the_turns(shop_domain):
    events = [
        listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
        listen(), user("bot_challenge"), ev.ActionExecutionRejected("order_form", timestamp=0.0),
        action("utter_iamabot"), action("order_form"),
    ]
    names = [e.get("name") for e in applied_events_for_policies(events) if e["event"] == ev.ACTION]
    assert names == ["action_listen", "order_form", "action_listen", "utter_iamabot", "order_form"]
    assert is_loop_rejected(events[:7]) and is_loop_rejected(events[:8])
    assert not is_loop_rejected(events)  # the form ran again


def test_rewind_and_restart(shop_domain):
    events = [listen(), user("greet"), action("utter_greet"), listen(), user("chitchat"), ev.UserUtteranceReverted(
        timestamp=0.0)]
    assert tracker_states(events, shop_domain) == tracker_states(events[:3], shop_domain)
    assert tracker_states(events + [ev.Restarted(timestamp=0.0)], shop_domain) == [{}]


def test_a_missing_action_listen_before_a_user_message_is_supplied(shop_domain):
    bare = [user("greet"), action("utter_greet"), user("thank")]
    rasa = [listen(), user("greet"), action("utter_greet"), listen(), user("thank")]
    assert tracker_states(bare, shop_domain) == tracker_states(rasa, shop_domain)
