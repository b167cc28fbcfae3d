"""MemoizationPolicy and AugmentedMemoizationPolicy: exact story histories, and histories cut short."""

from __future__ import annotations

import pytest
from policy_support import action, listen, session_start, story_data_from_yaml, user

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from policies.memoization import AugmentedMemoizationPolicy, MemoizationPolicy
from policies.story_graph import generate_trackers

ORDER = [{"entity": "order_id", "value": "B7"}]
ANGRY = [listen(), user("complain", ORDER), ev.SlotSet("sentiment", "angry", timestamp=0.0), action("utter_sorry")]
CALM = [listen(), user("complain"), ev.SlotSet("sentiment", "negative", timestamp=0.0), action("utter_sorry")]


def test_recalls_the_story_next_action(shop_domain, shop_trackers):
    memo = MemoizationPolicy(max_history=3).learn(shop_trackers, shop_domain)
    angry = memo.predict(ANGRY, shop_domain)
    assert (angry.action_name, angry.confidence, angry.policy_name, angry.priority) == (
        "utter_calm_down", 1.0, "MemoizationPolicy", 3)
    assert memo.predict(CALM, shop_domain).action_name == "utter_offer_human"
    unknown = memo.predict([listen(), user("chitchat")], shop_domain)
    assert unknown.action_name is None and unknown.confidence == 0.0


def test_learns_from_stories_only(shop_domain, shop_trackers):
    memo = MemoizationPolicy().learn(shop_trackers, shop_domain)
    # `bot_challenge -> utter_iamabot` is only a rule (outside a form): memoization does not know it
    assert memo.predict([listen(), user("bot_challenge")], shop_domain).action_name is None


def test_ambiguous_histories_are_dropped(shop_domain):
    data = story_data_from_yaml("""
    stories:
    - story: a
      steps: [{intent: greet}, {action: utter_greet}, {intent: thank}, {action: utter_welcome}]
    - story: b
      steps: [{intent: greet}, {action: utter_greet}, {intent: thank}, {action: utter_goodbye}]
    """)
    memo = MemoizationPolicy().learn(generate_trackers(data, shop_domain), shop_domain)
    events = [listen(), user("greet"), action("utter_greet"), listen(), user("thank")]
    assert memo.predict(events, shop_domain).action_name is None
    assert memo.predict(events[:2], shop_domain).action_name == "utter_greet"


def test_max_history_decides_what_is_compared(shop_domain):
    data = story_data_from_yaml("""
    stories:
    - story: thanks after greeting
      steps: [{intent: greet}, {action: utter_greet}, {intent: thank}, {action: utter_welcome}]
    """)
    trackers = generate_trackers(data, shop_domain)
    events = [listen(), user("goodbye"), action("utter_goodbye"), listen(), user("greet"), action("utter_greet"),
              listen(), user("thank")]
    assert MemoizationPolicy(max_history=2).learn(trackers, shop_domain).predict(events, shop_domain).action_name == (
        "utter_welcome")
    assert MemoizationPolicy(max_history=5).learn(trackers, shop_domain).predict(events, shop_domain).action_name is None


def test_augmented_memoization_forgets_the_start(shop_domain, shop_trackers):
    events = session_start() + [user("greet"), action("utter_greet"), listen(), user("thank"), action("utter_welcome"),
                                listen(), user("complain", ORDER), ev.SlotSet("sentiment", "angry", timestamp=0.0),
                                action("utter_sorry")]
    plain = MemoizationPolicy(max_history=5).learn(shop_trackers, shop_domain)
    augmented = AugmentedMemoizationPolicy(max_history=5).learn(shop_trackers, shop_domain)
    assert plain.predict(events, shop_domain).action_name is None
    prediction = augmented.predict(events, shop_domain)
    assert (prediction.action_name, prediction.policy_name) == ("utter_calm_down", "AugmentedMemoizationPolicy")
    events += [action("utter_calm_down")]
    assert augmented.predict(events, shop_domain).action_name == ACTION_LISTEN_NAME


def test_nlu_confidence_as_score(shop_domain, shop_trackers):
    memo = MemoizationPolicy(use_nlu_confidence_as_score=True).learn(shop_trackers, shop_domain)
    events = [listen(), user("greet", confidence=0.62)]
    prediction = memo.predict(events, shop_domain)
    assert prediction.action_name == "utter_greet" and prediction.confidence == pytest.approx(0.62)


@pytest.mark.parametrize("cls", [MemoizationPolicy, AugmentedMemoizationPolicy])
def test_save_load_round_trip_and_determinism(cls, shop_domain, shop_trackers, tmp_path):
    memo = cls(max_history=4).learn(shop_trackers, shop_domain)
    again = cls(max_history=4).learn(shop_trackers, shop_domain)
    assert memo.lookup == again.lookup
    memo.save(tmp_path / "memo")
    loaded = cls.load(tmp_path / "memo")
    assert loaded.max_history == 4 and loaded.lookup == memo.lookup
    for events in (ANGRY, CALM, [listen(), user("greet")], session_start() + [user("thank")]):
        assert loaded.predict(events, shop_domain).probabilities == memo.predict(events, shop_domain).probabilities
