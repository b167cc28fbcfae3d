"""Stories and rules become training trackers the way Rasa's TrainingDataGenerator builds them."""

from __future__ import annotations

from policy_support import domain_from_yaml, story_data_from_yaml

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from policies.constants import RULE_SNIPPET_ACTION_NAME, SHOULD_NOT_BE_SET
from policies.story_graph import (
    augment_trackers,
    generate_trackers,
    rule_trackers,
    story_to_eval_steps,
)


def _names(tracker) -> list[str]:
    out = []
    for e in tracker.events:
        if e["event"] == ev.ACTION:
            out.append(e["name"])
        elif e["event"] == ev.USER:
            out.append("*" + e["parse_data"]["intent"]["name"])
        elif e["event"] == ev.SLOT:
            out.append(f"{e['name']}={e['value']}")
        elif e["event"] == ev.ACTIVE_LOOP:
            out.append(f"loop={e['name']}")
    return out


def test_checkpoints_join_and_or_branches(shop_domain, shop_data):
    trackers = [t for t in generate_trackers(shop_data, shop_domain) if not t.is_rule]
    by_sender: dict[str, list] = {}
    for tracker in trackers:
        by_sender.setdefault(tracker.sender_id, []).append(tracker)
    assert set(by_sender) == {
        "greet and say goodbye > after greeting, goodbye",
        "greet and say goodbye > after greeting, thanks",
        "angry complaint goes to a human",
        "calm complaint",
        "order form with an interruption",
    }
    thanks = sorted(_names(t) for t in by_sender["greet and say goodbye > after greeting, thanks"])
    assert thanks == [
        [ACTION_LISTEN_NAME, "*greet", "utter_greet", ACTION_LISTEN_NAME, "*affirm", "utter_welcome", ACTION_LISTEN_NAME],
        [ACTION_LISTEN_NAME, "*greet", "utter_greet", ACTION_LISTEN_NAME, "*thank", "utter_welcome", ACTION_LISTEN_NAME],
    ]


def test_user_steps_become_rasa_user_events_with_entity_slots(shop_domain, shop_data):
    trackers = generate_trackers(shop_data, shop_domain)
    angry = next(t for t in trackers if t.sender_id == "angry complaint goes to a human")
    user = angry.events[1]
    assert angry.events[0]["name"] == ACTION_LISTEN_NAME
    assert user["event"] == ev.USER
    assert user["parse_data"]["intent"] == {"name": "complain", "confidence": 1.0}
    assert user["parse_data"]["entities"] == [{"entity": "order_id", "value": "A123"}]
    # from_entity mapping without a form condition fills the slot, as Rasa's slots_for_entities
    assert _names(angry)[:5] == [ACTION_LISTEN_NAME, "*complain", "order_id=A123", "sentiment=angry", "utter_sorry"]
    assert angry.source_of(angry.events[4]).line > 0
    assert angry.source_of(angry.events[0]) is None  # implicit action_listen


def test_roles_groups_and_slot_without_value():
    data = story_data_from_yaml("""
    stories:
    - story: s
      steps:
      - intent: inform
        entities:
        - city: Berlin
          role: from
      - slot_was_set:
        - destination
      - action: utter_ok
    """)


    domain = domain_from_yaml("""
    intents: [inform]
    entities: [{city: {roles: [from, to]}}]
    slots:
      destination: {type: text, mappings: [{type: custom}]}
    responses: {utter_ok: [{text: ok}]}
    """)
    (tracker,) = generate_trackers(data, domain)
    assert tracker.events[1]["parse_data"]["entities"] == [{"entity": "city", "value": "Berlin", "role": "from"}]
    assert _names(tracker)[2] == "destination=filled"


def test_rule_trackers_snippets_conditions_and_nulls(shop_domain, shop_data):
    rules = {t.sender_id: _names(t) for t in rule_trackers(shop_data.rules, shop_domain)}
    assert rules["welcome at the start"] == [ACTION_LISTEN_NAME, "*greet", "utter_greet", ACTION_LISTEN_NAME]
    assert rules["bot challenge"] == [RULE_SNIPPET_ACTION_NAME, ACTION_LISTEN_NAME, "*bot_challenge", "utter_iamabot",
                                      ACTION_LISTEN_NAME]
    assert rules["greet a vip"][:2] == ["vip=True", RULE_SNIPPET_ACTION_NAME]
    assert rules["submit the order form"] == [
        "loop=order_form", RULE_SNIPPET_ACTION_NAME, "order_form", f"loop={SHOULD_NOT_BE_SET}", "action_check_order",
        ACTION_LISTEN_NAME,
    ]
    assert rules["say sorry, then the story goes on"][-3:] == ["utter_sorry", RULE_SNIPPET_ACTION_NAME, ACTION_LISTEN_NAME]


def test_eval_steps_of_a_test_story(shop_domain):
    data = story_data_from_yaml("""
    stories:
    - story: form test
      steps:
      - user: |
          where is order [A1](order_id)
        intent: track_order
      - action: order_form
      - active_loop: order_form
      - active_loop: null
      - action: action_check_order
    """, path="tests/test_stories.yml")
    steps = story_to_eval_steps(data.stories[0], shop_domain)
    assert [s.expected_action for s in steps] == [
        ACTION_LISTEN_NAME, "order_form", "action_check_order", ACTION_LISTEN_NAME,
    ]
    assert steps[0].events_before == []
    user = steps[1].events_before[-2]  # the order_id slot follows the message
    assert user["text"].startswith("where is order A1")
    assert user["parse_data"]["entities"] == [{"entity": "order_id", "value": "A1"}]
    assert steps[1].source.path == "tests/test_stories.yml" and steps[1].source.line == 8
    assert steps[2].events_before[-1] == {**ev.ActiveLoop(None, timestamp=0.0)}
    assert all(s.story == "form test" and s.branch == 0 for s in steps)


def test_or_in_a_test_story_gives_branches(shop_domain):
    data = story_data_from_yaml("""
    stories:
    - story: thanks
      steps:
      - or:
        - intent: thank
        - intent: affirm
      - action: utter_welcome
    """)
    steps = story_to_eval_steps(data.stories[0], shop_domain)
    assert [(s.branch, s.expected_action) for s in steps] == [
        (0, ACTION_LISTEN_NAME), (0, "utter_welcome"), (0, ACTION_LISTEN_NAME),
        (1, ACTION_LISTEN_NAME), (1, "utter_welcome"), (1, ACTION_LISTEN_NAME),
    ]


def test_augmentation_is_seeded_and_marked(shop_domain, shop_data):
    stories = [t for t in generate_trackers(shop_data, shop_domain) if not t.is_rule]
    first = augment_trackers(stories, 3, seed=7)
    again = augment_trackers(stories, 3, seed=7)
    assert first and all(t.is_augmented for t in first)
    assert [t.signature() for t in first] == [t.signature() for t in again]
    assert augment_trackers(stories, 0) == []
    with_aug = generate_trackers(shop_data, shop_domain, augmentation_factor=2, seed=1)
    assert sum(t.is_augmented for t in with_aug) > 0
