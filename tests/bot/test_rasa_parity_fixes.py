"""What third-party Rasa 3.x assistants use and Rasa accepts: Kefu must train and serve them unchanged.

- a retrieval intent (``faq/returns``, ``faq/shipping``) whose rules name the response group
  (``action: utter_faq``) and whose ``utter_faq/<sub-intent>`` responses live in a data file;
- a slot mapping whose ``intent:`` names something that is not an intent (a form's name): a warning;
- a spaCy pipeline: trained with Kefu's own encoder, one notice per component.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.cli import main as kefu_main
from bot.model_archive import load_model, train_model
from bot.processor import MessageProcessor
from bot.project import load_project
from bot.stores import InMemoryLockStore, InMemoryTrackerStore
from bot.validator import validate_project

DOMAIN = """
version: "3.1"
intents: [greet, faq, order_food, inform]
entities: [dish]
slots:
  dish:
    type: text
    mappings:
    - type: from_entity
      entity: dish
      intent: [inform, food_form]
forms:
  food_form:
    required_slots: [dish]
responses:
  utter_greet:
  - text: "Hello! Ask me about returns or shipping."
  utter_ask_dish:
  - text: "Which dish?"
  utter_order_placed:
  - text: "Ordered {dish}."
"""

NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
    - hey
    - hi
- intent: faq/returns
  examples: |
    - how do I return an item
    - can I send my order back
    - what is your return policy
    - I want to return a jacket
    - how do returns work
    - can I get a refund for a return
- intent: faq/shipping
  examples: |
    - how long does shipping take
    - when will my parcel arrive
    - how much is delivery
    - do you ship abroad
    - what are the delivery times
    - is shipping free
- intent: order_food
  examples: |
    - I want to order food
    - can I order a meal
    - order some food please
    - I'd like to order dinner
- intent: inform
  examples: |
    - [pizza](dish)
    - I'll have [sushi](dish)
    - [noodles](dish) please
    - [curry](dish)
"""

RESPONSES = """
version: "3.1"
responses:
  utter_faq/returns:
  - text: "Returns are free within 30 days."
  utter_faq/shipping:
  - text: "Shipping takes 2 to 4 days."
"""

RULES = """
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: answer a question
  steps:
  - intent: faq
  - action: utter_faq
- rule: start the food form
  steps:
  - intent: order_food
  - action: food_form
  - active_loop: food_form
- rule: submit the food form
  condition:
  - active_loop: food_form
  steps:
  - action: food_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_order_placed
"""

FAST_TRANSFORMER = {"name": "KefuTransformerClassifier", "epochs": 12, "trainable_layers": 1,
                    "learning_rate": 2e-4, "head_learning_rate": 5e-3, "max_length": 24,
                    "validation_fraction": 0.0, "sentiment_corpus": False}


def _config(pipeline: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump({"recipe": "default.v1", "language": "en", "pipeline": pipeline,
                           "policies": [{"name": "MemoizationPolicy"}, {"name": "RulePolicy"}]})


def write_retrieval_project(root: Path, pipeline: list[dict[str, Any]]) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(DOMAIN)
    (root / "config.yml").write_text(_config(pipeline))
    (root / "data" / "nlu.yml").write_text(NLU)
    (root / "data" / "responses.yml").write_text(RESPONSES)
    (root / "data" / "rules.yml").write_text(RULES)
    return root


def test_retrieval_intents_join_the_domain_as_rasa_merges_them(tmp_path: Path) -> None:
    project = load_project(root=write_retrieval_project(tmp_path, [FAST_TRANSFORMER]))
    domain = project.domain
    assert domain.retrieval_intents == ["faq"]
    assert "utter_faq" in domain.actions and domain.is_retrieval_action("utter_faq")
    assert domain.responses["utter_faq/returns"] == [{"text": "Returns are free within 30 days."}]
    assert domain.as_dict()["intents"][1] == {"faq": {"is_retrieval_intent": True}}


def test_retrieval_rules_and_an_undeclared_mapping_intent_validate_with_warnings_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_retrieval_project(tmp_path, [FAST_TRANSFORMER])
    problems = validate_project(load_project(root=root))
    assert not [str(p) for p in problems if p.is_error]
    warning = next(p for p in problems if "food_form" in p.message)
    assert warning.severity == "warning" and warning.path.endswith("domain.yml") and warning.line == 9
    assert "mapping uses intent 'food_form', which is not a declared intent" in warning.message
    monkeypatch.chdir(root)
    assert kefu_main(["data", "validate"]) == 0
    assert kefu_main(["data", "validate", "--fail-on-warnings"]) == 1
    assert "domain.yml:9:7: warning: slot 'dish' mapping uses intent 'food_form'" in capsys.readouterr().out


def test_a_retrieval_action_without_its_responses_is_named(tmp_path: Path) -> None:
    root = write_retrieval_project(tmp_path, [FAST_TRANSFORMER])
    (root / "data" / "responses.yml").write_text('version: "3.1"\nresponses: {}\n')
    problems = validate_project(load_project(root=root))
    assert any("retrieval action 'utter_faq' has no 'utter_faq/<sub-intent>' responses" in p.message
               for p in problems if p.severity == "warning")


async def test_retrieval_project_trains_and_answers_each_sub_intent(tmp_path: Path) -> None:
    pipeline = [{"name": "WhitespaceTokenizer"}, FAST_TRANSFORMER,
                {"name": "ResponseSelector", "epochs": 100}, {"name": "EntitySynonymMapper"}]
    project = load_project(root=write_retrieval_project(tmp_path, pipeline))
    project.raise_for_errors()
    agent = load_model(train_model(project, tmp_path / "models").path)
    parsed = agent.interpreter.parse("what is your return policy")
    assert parsed["intent"]["name"] == "faq"
    selected = parsed["response_selector"]["default"]["response"]
    assert selected["intent_response_key"] == "faq/returns"
    assert selected["utter_action"] == "utter_faq/returns"
    assert parsed["response_selector"]["all_retrieval_intents"] == ["faq"]
    assert set(selected) == {"responses", "confidence", "intent_response_key", "utter_action"}  # Rasa 3.6's keys


    processor = MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore())
    served = (await processor.parse_message("what is your return policy"))["response_selector"]
    assert served["default"]["response"]["responses"] == [{"text": "Returns are free within 30 days."}]
    assert served["faq"]["ranking"][0]["intent_response_key"] == "faq/returns"
    for text, answer in (("how long does shipping take", "Shipping takes 2 to 4 days."),
                         ("can I send my order back", "Returns are free within 30 days.")):
        channel = CollectingOutputChannel()
        await processor.handle_message(UserMessage(text, sender_id="shopper"), channel)
        assert [m.get("text") for m in channel.messages] == [answer]


def test_spacy_pipeline_trains_with_kefus_encoder_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = [{"name": "SpacyNLP", "model": "en_core_web_md"}, {"name": "SpacyTokenizer"},
                {"name": "SpacyFeaturizer"}, {"name": "SpacyEntityExtractor", "dimensions": ["PERSON"]},
                FAST_TRANSFORMER, {"name": "EntitySynonymMapper"}]
    project = load_project(root=write_retrieval_project(tmp_path, pipeline))
    assert not [str(p) for p in validate_project(project) if p.is_error]
    with caplog.at_level(logging.INFO, logger="nlu.registry"):
        agent = load_model(train_model(project, tmp_path / "models", parts=("nlu",)).path)
    notes = [r.getMessage() for r in caplog.records if r.name == "nlu.registry"]
    assert "pipeline: SpacyNLP: skipped (no spaCy model is needed)" in notes
    assert any(n.startswith("pipeline: SpacyTokenizer → WhitespaceTokenizer") for n in notes)
    assert any(n.startswith("pipeline: SpacyFeaturizer: skipped") for n in notes)
    assert any(n.startswith("pipeline: SpacyEntityExtractor") for n in notes)
    assert agent.interpreter.parse("hello")["intent"]["name"] == "greet"


E2E_DOMAIN = """
version: "3.1"
intents: [greet, ask_baggage]
responses:
  utter_greet:
  - text: "Hi!"
"""

E2E_STORIES = """
version: "3.1"
stories:
- story: greet
  steps:
  - intent: greet
  - action: utter_greet
- story: the baggage allowance, answered with end-to-end bot text
  steps:
  - intent: ask_baggage
  - bot: "You may take one cabin bag of 8 kg."
"""


def _write_e2e_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(E2E_DOMAIN)
    (root / "config.yml").write_text(_config([]))
    (root / "data" / "stories.yml").write_text(E2E_STORIES)
    return root


async def test_story_bot_text_is_an_action_the_bot_says(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Rasa's end-to-end stories: ``- bot: <text>`` is an action (Rasa's action_text); no NLU data at all."""
    project = load_project(root=_write_e2e_project(tmp_path))
    assert project.domain.action_texts == ["You may take one cabin bag of 8 kg."]
    assert "You may take one cabin bag of 8 kg." in project.domain.action_names
    assert not [str(p) for p in validate_project(project) if p.is_error]
    with caplog.at_level(logging.WARNING, logger="bot.model_archive"):
        result = train_model(project, tmp_path / "models")
    assert result.trained == ["core"], "with no NLU examples only the dialogue model is trained, as in Rasa"
    assert "no NLU training examples: only the dialogue model is trained" in caplog.text
    agent = load_model(result.path)
    assert agent.domain.action_texts == ["You may take one cabin bag of 8 kg."]
    processor = MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore())
    for payload, answer in (("/ask_baggage", "You may take one cabin bag of 8 kg."), ("/greet", "Hi!")):
        channel = CollectingOutputChannel()
        await processor.handle_message(UserMessage(payload, sender_id=f"traveller {payload}"), channel)
        assert [m.get("text") for m in channel.messages] == [answer]


def test_custom_components_are_skipped_when_importable_and_an_error_naming_the_line_when_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_retrieval_project(tmp_path, [FAST_TRANSFORMER, {"name": "shop_addons.SentimentBooster"},
                                              {"name": "missing_module.Nothing"}, {"name": "NoSuchComponent"}])
    (root / "shop_addons.py").write_text("class SentimentBooster:\n    pass\n")
    problems = {p.message: p for p in validate_project(load_project(root=root))
                if p.path.endswith("config.yml")}
    skipped = problems["custom pipeline component 'shop_addons.SentimentBooster' is skipped: Kefu runs its own"
                       " components, not Rasa graph components"]
    assert skipped.severity == "warning"
    missing = next(p for m, p in problems.items() if "'missing_module.Nothing'" in m)
    assert missing.severity == "error" and "cannot be imported (ModuleNotFoundError" in missing.message
    assert (missing.line, missing.col) == (skipped.line + 1, skipped.col)
    unknown = next(p for m, p in problems.items() if "'NoSuchComponent'" in m)
    assert unknown.severity == "error" and "is neither a Rasa 3.x nor a Kefu pipeline component" in unknown.message
