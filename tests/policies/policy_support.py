"""Test support for the policies: a tiny shop (domain, rules, stories) written inline, and event helpers."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.errors import Problem
from bot.loaders.story_loader import parse_story_section
from bot.training_data import StoryData
from bot.yaml_reader import load_yaml

SHOP_DOMAIN = """
intents:
  - greet
  - goodbye
  - thank
  - affirm
  - deny
  - bot_challenge
  - track_order
  - inform
  - chitchat
  - complain
  - human
entities:
  - order_id
  - email
  - city:
      roles: [from, to]
slots:
  order_id:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: order_id}]
  email:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: email}]
  vip:
    type: bool
    mappings: [{type: custom}]
  sentiment:
    type: categorical
    values: [positive, neutral, negative, angry, anxious]
    mappings: [{type: custom}]
  order_count:
    type: float
    min_value: 0
    max_value: 10
    influence_conversation: false
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Hi!"}]
  utter_vip_greet: [{text: "Welcome back, VIP!"}]
  utter_goodbye: [{text: "Bye"}]
  utter_welcome: [{text: "You're welcome"}]
  utter_iamabot: [{text: "I am a bot"}]
  utter_ask_order_id: [{text: "Order number?"}]
  utter_ask_email: [{text: "Email?"}]
  utter_chitchat: [{text: "Nice weather"}]
  utter_sorry: [{text: "Sorry to hear that"}]
  utter_calm_down: [{text: "I understand you're upset"}]
  utter_offer_human: [{text: "Shall I get a human?"}]
  utter_default: [{text: "Sorry?"}]
actions:
  - action_check_order
  - action_handoff
forms:
  order_form:
    required_slots: [order_id, email]
"""

SHOP_RULES = """
rules:
- rule: welcome at the start
  conversation_start: true
  steps:
  - intent: greet
  - action: utter_greet

- rule: greet a vip
  condition:
  - slot_was_set:
    - vip: true
  steps:
  - intent: greet
  - action: utter_vip_greet

- rule: bot challenge
  steps:
  - intent: bot_challenge
  - action: utter_iamabot

- rule: activate the order form
  steps:
  - intent: track_order
  - action: order_form
  - active_loop: order_form

- rule: submit the order form
  condition:
  - active_loop: order_form
  steps:
  - action: order_form
  - active_loop: null
  - action: action_check_order

- rule: chitchat inside the order form
  condition:
  - active_loop: order_form
  steps:
  - intent: chitchat
  - action: utter_chitchat
  - action: order_form
  - active_loop: order_form

- rule: say sorry, then the story goes on
  steps:
  - intent: complain
  - action: utter_sorry
  wait_for_user_input: false
"""

SHOP_STORIES = """
stories:
- story: greet and say goodbye
  steps:
  - intent: greet
  - action: utter_greet
  - checkpoint: greeted

- story: after greeting, goodbye
  steps:
  - checkpoint: greeted
  - intent: goodbye
  - action: utter_goodbye

- story: after greeting, thanks
  steps:
  - checkpoint: greeted
  - or:
    - intent: thank
    - intent: affirm
  - action: utter_welcome

- story: angry complaint goes to a human
  steps:
  - intent: complain
    entities:
    - order_id: A123
  - slot_was_set:
    - sentiment: angry
  - action: utter_sorry
  - action: utter_calm_down
  - intent: human
  - action: action_handoff

- story: calm complaint
  steps:
  - intent: complain
  - slot_was_set:
    - sentiment: negative
  - action: utter_sorry
  - action: utter_offer_human
  - intent: deny
  - action: utter_goodbye

- story: order form with an interruption
  steps:
  - intent: track_order
  - action: order_form
  - active_loop: order_form
  - intent: bot_challenge
  - action: utter_iamabot
  - action: order_form
  - active_loop: null
  - action: action_check_order
"""


def story_data_from_yaml(text: str, path: str = "inline.yml") -> StoryData:
    """Parse ``stories:`` / ``rules:`` YAML (as in a data file) into StoryData; fails on any problem."""
    doc = load_yaml(path, textwrap.dedent(text))
    problems: list[Problem] = []
    data = StoryData()
    for kind in ("stories", "rules"):
        if kind in doc:
            data.merge(parse_story_section(doc[kind], kind, path, problems))
    assert not [p for p in problems if p.is_error], [str(p) for p in problems]
    return data


def domain_from_yaml(text: str) -> Domain:
    return Domain.from_dict(yaml.safe_load(textwrap.dedent(text)))


def user(intent: str, entities: list[dict[str, Any]] | None = None, confidence: float = 1.0) -> ev.EventDict:
    return ev.UserUttered(intent, {"intent": {"name": intent, "confidence": confidence},
                                   "entities": entities or []}, timestamp=0.0)


def action(name: str) -> ev.EventDict:
    return ev.ActionExecuted(name, timestamp=0.0)


def listen() -> ev.EventDict:
    return action(ACTION_LISTEN_NAME)


def session_start() -> list[ev.EventDict]:
    """How a live conversation begins (action_session_start, session_started, action_listen)."""
    return [action("action_session_start"), ev.SessionStarted(timestamp=0.0), listen()]
