"""A tiny Rasa-style project written into a temporary folder (fast to train: rules + memoization)."""

from __future__ import annotations

from pathlib import Path

DOMAIN = """
version: "3.1"
intents: [greet, goodbye, track_order, inform]
entities: [order_id]
slots:
  order_id:
    type: text
    influence_conversation: false
    mappings:
    - type: from_entity
      entity: order_id
forms:
  track_form:
    required_slots: [order_id]
responses:
  utter_greet:
  - text: "Hi!"
  utter_goodbye:
  - text: "Bye!"
  utter_ask_order_id:
  - text: "Order number?"
  utter_done:
  - text: "Looking up {order_id}."
"""

CONFIG = """
recipe: default.v1
language: en
pipeline: []
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""

RULES = """
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: bye
  steps:
  - intent: goodbye
  - action: utter_goodbye
- rule: activate form
  steps:
  - intent: track_order
  - action: track_form
  - active_loop: track_form
- rule: submit form
  condition:
  - active_loop: track_form
  steps:
  - action: track_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_done
"""

STORIES = """
version: "3.1"
stories:
- story: greet then track
  steps:
  - intent: greet
  - action: utter_greet
  - intent: track_order
  - action: track_form
  - active_loop: track_form
"""

TEST_STORIES = """
version: "3.1"
stories:
- story: test greet and bye
  steps:
  - user: |
      hello
    intent: greet
  - action: utter_greet
  - intent: goodbye
  - action: utter_goodbye
- story: test track
  steps:
  - intent: track_order
  - action: track_form
  - active_loop: track_form
  - slot_was_set:
    - requested_slot: order_id
  - user: |
      it is [A12345](order_id)
    intent: inform
  - action: track_form
  - slot_was_set:
    - order_id: A12345
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_done
- story: test wrong on purpose
  steps:
  - intent: greet
  - action: utter_goodbye
"""


def write_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "domain.yml").write_text(DOMAIN)
    (root / "config.yml").write_text(CONFIG)
    (root / "data" / "rules.yml").write_text(RULES)
    (root / "data" / "stories.yml").write_text(STORIES)
    (root / "tests" / "test_stories.yml").write_text(TEST_STORIES)
    return root


def train_core(root: Path, out: Path | None = None) -> Path:
    """Train the tiny project's policies (no NLU) and return the model folder."""
    from bot.model_archive import train_model
    from bot.project import load_project

    project = load_project(root=root)
    project.raise_for_errors()
    return train_model(project, out or root / "models", parts=("core",)).path
