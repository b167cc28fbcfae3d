"""Memoization: predict the next action of a story whose last ``max_history`` states match exactly.

``MemoizationPolicy`` (Rasa's ``MemoizationPolicy``) looks the conversation's last ``max_history``
states up in a table built from the stories (not rules, not augmented stories); a history that led
to two different actions is dropped from the table. ``AugmentedMemoizationPolicy`` also tries the
conversation with its beginning cut off (at each action, as Rasa's "DeLorean" does), which lets a
story match in the middle of a longer conversation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.events import EventDict
from policies.constants import DEFAULT_MAX_HISTORY, LOOKUP_FILE, MEMOIZATION_POLICY_PRIORITY
from policies.policy import Policy, Prediction
from policies.state import (
    State,
    applied_events_for_policies,
    format_states,
    state_key,
    states_and_actions,
    tracker_states,
)
from policies.story_graph import TrainingTracker

logger = logging.getLogger(__name__)

SelfMemo = TypeVar("SelfMemo", bound="MemoizationPolicy")


class MemoizationPolicy(Policy):
    """Predict the action a story took after the same last ``max_history`` states (confidence 1.0).

    :param max_history: how many states (one per action) to compare; None compares whole stories
    :param priority: Rasa 3.x's memoization priority (3)
    :param use_nlu_confidence_as_score: score a hit with the intent confidence instead of 1.0
    """

    rasa_names = ("MemoizationPolicy",)
    scores_actions_only = True

    def __init__(
        self,
        max_history: int | None = DEFAULT_MAX_HISTORY,
        priority: int = MEMOIZATION_POLICY_PRIORITY,
        use_nlu_confidence_as_score: bool = False,
    ) -> None:
        super().__init__(priority)
        self.max_history = max_history
        self.use_nlu_confidence_as_score = use_nlu_confidence_as_score
        self.lookup: dict[str, str] = {}

    # -- learning ----------------------------------------------------------------------------------
    def _create_feature_key(self, states: Sequence[State]) -> str | None:
        window = list(states[-self.max_history:]) if self.max_history else list(states)
        return state_key(window) if window else None

    def learn(self: SelfMemo, trackers: Sequence[TrainingTracker], domain: Domain) -> SelfMemo:
        """Memorise every (last ``max_history`` states → action) pair of the stories."""
        self.lookup = {}
        ambiguous: set[str] = set()
        for tracker in trackers:
            if tracker.is_rule or tracker.is_augmented:
                continue
            states, actions = states_and_actions(tracker.events, domain)
            for index, action in enumerate(actions):
                key = self._create_feature_key(states[: index + 1])
                if key is None or key in ambiguous:
                    continue
                name = str(action.get("name"))
                known = self.lookup.get(key)
                if known is None:
                    self.lookup[key] = name
                elif known != name:
                    ambiguous.add(key)
                    del self.lookup[key]
        logger.debug("%s memorised %d unique histories (%d ambiguous dropped)", self.name, len(self.lookup),
                     len(ambiguous))
        return self

    # -- prediction --------------------------------------------------------------------------------
    def _recall_states(self, states: Sequence[State]) -> str | None:
        key = self._create_feature_key(states)
        return self.lookup.get(key) if key is not None else None

    def _recall(self, events: list[EventDict], domain: Domain) -> tuple[str | None, list[State]]:
        states = tracker_states(events, domain)
        return self._recall_states(states), states

    def _predict(self, events: list[EventDict], domain: Domain) -> Prediction:
        action, states = self._recall(events, domain)
        probabilities = self._default_probabilities(domain)
        if action is not None and action in domain.action_names:
            score = 1.0
            if self.use_nlu_confidence_as_score:
                score = _latest_intent_confidence(events)
            probabilities[domain.action_names.index(action)] = score
            logger.debug("%s: memorised next action '%s'", self.name, action)
        return self._prediction(probabilities, domain, source=format_states(states[-(self.max_history or 0):]))

    # -- persistence -------------------------------------------------------------------------------
    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {
            "max_history": self.max_history,
            "priority": self.priority,
            "use_nlu_confidence_as_score": self.use_nlu_confidence_as_score,
        }

    def _save_learned(self, path: Path) -> None:
        (path / LOOKUP_FILE).write_text(json.dumps(self.lookup, indent=1, sort_keys=True), encoding="utf-8")

    def _load_learned(self, path: Path) -> None:
        lookup_file = path / LOOKUP_FILE
        self.lookup = json.loads(lookup_file.read_text(encoding="utf-8")) if lookup_file.exists() else {}


class AugmentedMemoizationPolicy(MemoizationPolicy):
    """Memoization that also forgets the start of the conversation to find a matching story.

    When the full history has no match, the conversation is cut at each action inside the last
    ``max_history`` turns (oldest first) and looked up again, as if it had started there.

    :param max_history: how many states (one per action) to compare
    :param priority: Rasa 3.x's memoization priority (3)
    :param use_nlu_confidence_as_score: score a hit with the intent confidence instead of 1.0
    """

    rasa_names = ("AugmentedMemoizationPolicy",)

    def _recall(self, events: list[EventDict], domain: Domain) -> tuple[str | None, list[State]]:
        action, states = super()._recall(events, domain)
        if action is not None:
            return action, states
        applied = applied_events_for_policies(events)
        start = _start_of_max_history(applied, self.max_history)
        old_states = states
        for index in range(start, len(applied)):
            if applied[index].get("event") != ev.ACTION:
                continue
            truncated = tracker_states(applied[index:], domain)
            if truncated == old_states:
                continue
            old_states = truncated
            action = self._recall_states(truncated)
            if action is not None:
                return action, truncated
        return None, states


def _start_of_max_history(applied: Sequence[EventDict], max_history: int | None) -> int:
    """Index of the ``action_listen`` just beyond the last ``max_history`` actions (0 if none)."""
    if not max_history:
        return 0
    actions = 0
    for index in range(len(applied) - 1, -1, -1):
        event = applied[index]
        if event.get("event") == ev.ACTION:
            actions += 1
            if actions > max_history and event.get("name") == ACTION_LISTEN_NAME:
                return index
    return 0


def _latest_intent_confidence(events: Sequence[EventDict]) -> float:
    for event in reversed(events):
        if event.get("event") == ev.USER:
            confidence = ((event.get("parse_data") or {}).get("intent") or {}).get("confidence")
            return float(confidence) if confidence is not None else 1.0
    return 1.0
