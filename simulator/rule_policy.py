"""The rule baseline: the bot the stories' happy paths describe, and nothing more.

:class:`HappyPathPolicy` reads, from the project's rules and stories, which action answers each
intent (``track_order`` → ``track_form``, ``human_agent`` → ``action_handoff``, ``goodbye`` →
``utter_goodbye``), which action follows which inside a turn (``utter_iamabot`` → the active form),
and which action submits each form. It runs the active form on every answer, asks ``utter_ask_continue``
when the shopper says stop, and falls back (``action_default_fallback``) where no story says what
to do. It is what a shop gets from its stories alone, i.e. the policy an RL policy must beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bot.constants import (
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
)
from bot.training_data import ActionStep, ActiveLoopStep, SlotStep, StoryData, UserStep
from simulator.constants import INTENT_AFFIRM, INTENT_DENY, INTENT_INFORM, INTENT_STOP, UTTER_ASK_PREFIX
from simulator.tasks import first_actions

FORM_ANSWERS = (INTENT_INFORM, INTENT_AFFIRM, INTENT_DENY)


def _action_follows(stories: StoryData) -> dict[str, str]:
    """action -> the action that follows it in the same bot turn (first seen wins)."""
    follows: dict[str, str] = {}
    for block in [*stories.rules, *stories.stories]:
        steps = [s for s in block.steps if not isinstance(s, SlotStep | ActiveLoopStep)]
        for step, nxt in zip(steps, steps[1:], strict=False):
            if isinstance(step, ActionStep) and isinstance(nxt, ActionStep) and step.action and nxt.action:
                follows.setdefault(step.action, nxt.action)
    return follows


def _loop_intents(stories: StoryData) -> dict[str, str]:
    """intent -> action for rules that apply inside any active form (``bot challenge inside track_form``)."""
    found: dict[str, str] = {}
    for rule in stories.rules:
        if not any(isinstance(c, ActiveLoopStep) and c.name for c in rule.condition):
            continue
        steps = rule.steps
        for step, nxt in zip(steps, steps[1:], strict=False):
            if isinstance(step, UserStep) and step.intent and isinstance(nxt, ActionStep) and nxt.action:
                found.setdefault(step.intent, nxt.action)
    return found


class HappyPathPolicy:
    """The stories' happy paths as a policy (see the module docstring).

    :param stories: the project's stories and rules
    :param form_submit: form -> the action its ``submit`` rule runs
    :param forms: the domain's form names
    """

    name = "rule"

    def __init__(self, stories: StoryData, form_submit: dict[str, str], forms: list[str],
                 action_slots: dict[str, tuple[str, ...]] | None = None) -> None:
        firsts = first_actions(stories)
        self.intent_action = {intent: actions[0] for intent, actions in firsts.items()}
        self.follows = _action_follows(stories)
        self.loop_intents = _loop_intents(stories)
        self.form_submit = dict(form_submit)
        self.forms = set(forms)
        self.action_slots = dict(action_slots or {})

    @classmethod
    def from_world(cls, world: Any) -> HappyPathPolicy:
        slots = {t.action: t.required_slots for t in world.catalog.tasks.values()}
        return cls(world.stories, world.catalog.form_submit, list(world.domain.forms), slots)

    def next_action(self, tracker: Any, mask: np.ndarray, action_index: dict[str, int]) -> str:
        """The action the stories prescribe now (may be invalid; :meth:`act` then listens)."""
        prev = tracker.latest_action_name
        loop = tracker.active_loop_name
        if prev != ACTION_LISTEN_NAME:
            if prev in self.forms and loop is None:
                return self.form_submit.get(prev, ACTION_LISTEN_NAME)
            if prev in (ACTION_DEACTIVATE_LOOP_NAME, "utter_form_stopped") and prev in self.follows:
                return self.follows[prev]
            if loop is not None and prev not in self.forms and prev != "utter_ask_continue":
                return loop  # back to the form after answering an interruption
            return ACTION_LISTEN_NAME
        intent = tracker.latest_intent
        if loop is not None and _action_before_listen(tracker) == "utter_ask_continue":
            return loop if intent == INTENT_AFFIRM else ACTION_DEACTIVATE_LOOP_NAME
        if loop is not None:
            if intent == INTENT_STOP:
                return "utter_ask_continue"
            if intent in self.loop_intents:
                return self.loop_intents[intent]
            if intent in FORM_ANSWERS or intent not in self.intent_action:
                return loop
        action = self.intent_action.get(intent or "")
        if action is None:
            return ACTION_DEFAULT_FALLBACK_NAME
        if not _ok(action, mask, action_index):
            # a single-step action whose slot is missing: ask for it, as the stories' forms do
            for slot in self.action_slots.get(action, ()):
                ask = UTTER_ASK_PREFIX + slot
                if tracker.slots.get(slot) is None and _ok(ask, mask, action_index):
                    return ask
            return ACTION_DEFAULT_FALLBACK_NAME
        return action

    def act(self, env: Any) -> int:
        mask = env.action_masks()
        name = self.next_action(env.tracker, mask, env.action_index)
        index = env.action_index.get(name)
        if index is None or not mask[index]:
            index = env.action_index[ACTION_LISTEN_NAME] if mask[env.action_index[ACTION_LISTEN_NAME]] else \
                env.action_index.get(ACTION_DEFAULT_FALLBACK_NAME, int(np.flatnonzero(mask)[0]))
        return int(index)


def _ok(name: str, mask: np.ndarray, index: dict[str, int]) -> bool:
    i = index.get(name)
    return i is not None and bool(mask[i])


def _action_before_listen(tracker: Any) -> str | None:
    """The bot's last action before the latest ``action_listen`` (what the shopper answered)."""
    seen_listen = False
    for event in reversed(tracker.events):
        if event.get("event") != "action":
            continue
        name = event.get("name")
        if not seen_listen:
            seen_listen = name == ACTION_LISTEN_NAME
            continue
        return name
    return None
