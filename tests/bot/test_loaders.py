"""Loaders read every Rasa 3.x format feature with Rasa's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ProjectError, UserFileError
from bot.loaders.annotation import AnnotationError, parse_annotated
from bot.loaders.config_loader import load_config
from bot.loaders.domain_loader import load_domain, read_domain
from bot.loaders.endpoints_loader import load_credentials, load_endpoints
from bot.loaders.training_files import load_nlu_data, load_training_data
from bot.training_data import (
    ANY_SLOT_VALUE,
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    UserStep,
)
from bot.yaml_reader import load_yaml


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_positions_are_one_based(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path / "a.yml", "a:\n  b:\n    - x\n    - y: 1\n"))
    assert doc.pos("a") == (1, 1)
    assert doc["a"].pos("b") == (2, 3)
    assert doc["a"]["b"].pos(1) == (4, 7)


def test_annotation_forms() -> None:
    text, spans = parse_annotated(
        'fly from [Berlin]{"entity": "city", "role": "from"} to [Paris](city) in [blk]{"entity": "color", "value": "black"}'
    )
    assert text == "fly from Berlin to Paris in blk"
    assert [(s.entity, s.role, text[s.start:s.end], s.resolved_value) for s in spans] == [
        ("city", "from", "Berlin", "Berlin"),
        ("city", None, "Paris", "Paris"),
        ("color", None, "blk", "black"),
    ]
    with pytest.raises(AnnotationError) as info:
        parse_annotated("order [A1234 please")
    assert info.value.offset == 6


def test_nlu_block_and_list_examples_with_metadata_synonyms_regex_lookup(tmp_path: Path) -> None:
    write(tmp_path / "data" / "nlu.yml", """version: "3.1"
nlu:
- intent: greet
  metadata: {sentiment: neutral}
  examples:
  - text: hi
  - text: "hey there!"
    metadata: {sentiment: positive}
- intent: faq/returns_policy
  examples: |
    - how do I return an item
- synonym: black
  examples: |
    - jet black
- regex: order_id
  examples: |
    - A\\d{5}
- lookup: brand
  examples: |
    - Nike
    - Adidas
""")
    nlu = load_nlu_data(tmp_path / "data")
    by_text = {e.text: e for e in nlu.examples}
    assert by_text["hi"].sentiment == "neutral"
    assert by_text["hey there!"].sentiment == "positive"
    assert by_text["how do I return an item"].base_intent == "faq"
    assert nlu.synonyms == {"jet black": "black"}
    assert nlu.regexes == [("order_id", r"A\d{5}")]
    assert nlu.lookups == {"brand": ["Nike", "Adidas"]}
    assert by_text["hi"].source is not None and by_text["hi"].source.line == 6


def test_unclosed_bracket_is_a_file_line_error(tmp_path: Path) -> None:
    path = write(tmp_path / "nlu.yml", 'version: "3.1"\nnlu:\n- intent: track\n  examples: |\n    - where is [A12345\n')
    with pytest.raises(ProjectError) as info:
        load_nlu_data(path)
    assert str(info.value.problems[0]).startswith(f"{path}:5:16: error: unclosed '['")


def test_stories_rules_or_checkpoints_and_test_stories(tmp_path: Path) -> None:
    write(tmp_path / "stories.yml", """version: "3.0"
stories:
- story: first half
  steps:
  - intent: track_order
    entities:
    - order_id: A12345
    - city: Berlin
      role: from
  - slot_was_set:
    - order_id: A12345
    - email
  - action: track_form
  - active_loop: track_form
  - checkpoint: tracked
- story: second half
  steps:
  - checkpoint: tracked
  - or:
    - intent: affirm
    - intent: thank
  - action: utter_welcome
rules:
- rule: greet at start
  conversation_start: true
  condition:
  - active_loop: null
  steps:
  - intent: greet
  - action: utter_greet
  wait_for_user_input: false
""")
    write(tmp_path / "tests" / "test_stories.yml", """stories:
- story: e2e
  steps:
  - user: |
      where is [A12345](order_id)?
    intent: track_order
  - action: track_form
""")
    data = load_training_data([tmp_path / "stories.yml"])
    assert not data.errors
    first, second = data.stories.stories
    user = first.steps[0]
    assert isinstance(user, UserStep) and user.entities == [
        {"entity": "order_id", "value": "A12345"}, {"entity": "city", "value": "Berlin", "role": "from"}]
    slots = first.steps[1]
    assert isinstance(slots, SlotStep) and slots.slots == {"order_id": "A12345", "email": ANY_SLOT_VALUE}
    assert isinstance(first.steps[3], ActiveLoopStep) and isinstance(first.steps[4], CheckpointStep)
    assert isinstance(second.steps[1], OrStep) and len(second.steps[1].alternatives) == 2
    (rule,) = data.stories.rules
    assert rule.conversation_start and not rule.wait_for_user_input and rule.condition
    test = load_training_data([tmp_path / "tests"]).stories.stories[0]
    step = test.steps[0]
    assert isinstance(step, UserStep) and step.text == "where is A12345?" and step.intent == "track_order"
    assert step.entities == [{"entity": "order_id", "value": "A12345"}]
    assert isinstance(test.steps[1], ActionStep)


def test_domain_directory_is_merged(tmp_path: Path) -> None:
    write(tmp_path / "domain" / "a.yml", """version: "3.1"
intents: [greet, {track_order: {use_entities: [order_id]}}]
entities: [order_id, {city: {roles: [from, to]}}]
responses:
  utter_greet:
  - text: hi
    condition: [{type: slot, name: sentiment, value: angry}]
  - text: hello
    channel: socketio
""")
    write(tmp_path / "domain" / "b.yml", """version: "3.1"
slots:
  sentiment: {type: categorical, values: [positive, angry], mappings: [{type: custom}]}
  order_id: {type: text, mappings: [{type: from_entity, entity: order_id}]}
forms:
  track_form: {required_slots: [order_id], ignored_intents: [greet]}
actions: [{action_recommend: {send_domain: true}}]
session_config: {session_expiration_time: 0, carry_over_slots_to_new_session: false}
config: {store_entities_as_slots: false}
""")
    domain = load_domain(tmp_path / "domain")
    assert domain.intents == ["greet", "track_order"]
    assert domain.entities_for_intent("track_order") == ["order_id"]
    assert domain.entity_roles["city"] == ["from", "to"]
    assert domain.forms["track_form"].ignored_intents == ["greet"]
    assert domain.action_properties["action_recommend"] == {"send_domain": True}
    assert domain.session_expiration_time == 0 and domain.carry_over_slots is False
    assert domain.store_entities_as_slots is False
    assert domain.responses["utter_greet"][1]["channel"] == "socketio"
    assert "track_form" in domain.action_names and "utter_greet" in domain.action_names
    assert domain.as_dict()["actions"] == [{"action_recommend": {"send_domain": True}}]


def test_domain_type_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "domain.yml", 'version: "3.1"\nslots:\n  x:\n    type: text\n    influence_conversation: maybe\n    mappings: []\n')
    problems = [str(p) for p in read_domain(path).problems]
    assert f"{path}:5:29: error: 'influence_conversation' of slot 'x' must be true or false" in problems


def test_endpoints_interpolate_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "endpoints.yml", "tracker_store:\n  type: redis\n  url: ${KEFU_TEST_REDIS}\n  port: 6379\n")
    monkeypatch.setenv("KEFU_TEST_REDIS", "127.0.0.1")
    assert load_endpoints(path).tracker_store == {"type": "redis", "url": "127.0.0.1", "port": 6379}
    monkeypatch.delenv("KEFU_TEST_REDIS")
    with pytest.raises(UserFileError) as info:
        load_endpoints(path)
    assert info.value.line == 3 and "KEFU_TEST_REDIS" in info.value.message
    assert load_endpoints(tmp_path / "missing.yml").tracker_store is None


def test_credentials_and_config(tmp_path: Path) -> None:
    creds = write(tmp_path / "credentials.yml", "rest:\nsocketio:\n  user_message_evt: user_uttered\n")
    assert load_credentials(creds) == {"rest": {}, "socketio": {"user_message_evt": "user_uttered"}}
    config = load_config(write(tmp_path / "config.yml", "language: en\npipeline:\n- name: DIETClassifier\n  epochs: 3\npolicies:\n- name: RulePolicy\n"))
    assert config.component("DIETClassifier")["epochs"] == 3
    assert config.policy("RulePolicy") is not None and config.recipe == "default.v1"
