"""Tracker → fixed-size float32 observation: the ML policy's input and the simulator env's observation.

Each dialogue state (one per action, see :mod:`policies.state`) becomes a *turn vector*:

======================  =====================================================================
block                   contents
======================  =====================================================================
intent                  one-hot of the latest intent (only on user turns: previous action was
                        ``action_listen``, as Rasa's TED does), over ``domain.all_intents``
entities                multi-hot of the latest message's entity labels (``city#from`` for roles)
                        that the intent passes on (same user-turn rule)
previous action         one-hot over ``domain.action_names``
active loop             one-hot over the forms (+ ``action_two_stage_fallback``)
slots                   every slot with ``influence_conversation``: text/list = is set, bool =
                        (set, value), float = (set, scaled), categorical = one-hot + other (the
                        ``sentiment`` slot: positive/neutral/negative/angry/anxious + other)
requested slot          one-hot over the forms' required slots (only with ``use_requested_slot``;
                        by default when the domain's ``requested_slot`` influences the conversation)
======================  =====================================================================

The observation stacks the last ``max_history`` turn vectors, oldest first, zero-padded in front:
``observation_size = max_history * turn_size``, every value in [0, 1].

The hashable Rasa-style states that memoization and rules compare (:func:`tracker_states`,
:func:`state_key`) live in :mod:`policies.state` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.constants import REQUESTED_SLOT
from bot.domain import Domain
from bot.events import EventDict
from bot.tracker import DialogueStateTracker
from policies.constants import (
    ACTIVE_LOOP,
    DEFAULT_MAX_HISTORY,
    ENTITIES,
    INTENT,
    LOOP_NAME,
    REQUESTED,
    SHOULD_NOT_BE_SET,
    SLOTS,
    USER,
)
from policies.state import (
    State,
    is_prev_action_listen,
    prev_action_name,
    slot_feature_size,
    spec_for,
    state_key,
    tracker_states,
)

__all__ = ["State", "TrackerFeaturizer", "state_key", "tracker_states"]

TrackerLike = DialogueStateTracker | Sequence[EventDict]


class TrackerFeaturizer:
    """Featurise a conversation into the last ``max_history`` turn vectors, stacked (float32).

    :param domain: the domain whose intents, entities, actions, forms and slots make the vocabulary
        (may be None when ``vocabulary`` is given, e.g. when loading a saved policy)
    :param max_history: how many turns (one per action) the observation holds
    :param use_requested_slot: add the form's requested slot (None: when the domain's ``requested_slot``
        slot has ``influence_conversation: true``)
    :param vocabulary: a saved vocabulary (:meth:`to_dict`) instead of the domain's
    """

    def __init__(
        self,
        domain: Domain | None = None,
        max_history: int = DEFAULT_MAX_HISTORY,
        use_requested_slot: bool | None = None,
        vocabulary: dict[str, Any] | None = None,
    ) -> None:
        if vocabulary is None:
            if domain is None:
                raise ValueError("TrackerFeaturizer needs a domain or a saved vocabulary")
            vocabulary = self.vocabulary_from_domain(domain, use_requested_slot)
        self.domain = domain
        self.max_history = int(max_history)
        self.vocabulary = vocabulary
        self.intents: list[str] = list(vocabulary["intents"])
        self.entity_labels: list[str] = list(vocabulary["entity_labels"])
        self.action_names: list[str] = list(vocabulary["action_names"])
        self.loops: list[str] = list(vocabulary["loops"])
        self.slots: list[tuple[str, int]] = [(str(n), int(s)) for n, s in vocabulary["slots"]]
        self.requested_slots: list[str] | None = (
            None if vocabulary.get("requested_slots") is None else list(vocabulary["requested_slots"])
        )
        self._index = {
            "intent": {name: i for i, name in enumerate(self.intents)},
            "entity": {name: i for i, name in enumerate(self.entity_labels)},
            "action": {name: i for i, name in enumerate(self.action_names)},
            "loop": {name: i for i, name in enumerate(self.loops)},
            "requested": {name: i for i, name in enumerate(self.requested_slots or [])},
        }
        offset = 0
        self._offsets: dict[str, int] = {}
        for block, size in (
            ("intent", len(self.intents)),
            ("entity", len(self.entity_labels)),
            ("action", len(self.action_names)),
            ("loop", len(self.loops)),
            ("slots", sum(size for _, size in self.slots)),
            ("requested", len(self.requested_slots or [])),
        ):
            self._offsets[block] = offset
            offset += size
        self.turn_size = offset
        self._slot_offsets: dict[str, tuple[int, int]] = {}
        position = self._offsets["slots"]
        for name, size in self.slots:
            self._slot_offsets[name] = (position, size)
            position += size

    # -- vocabulary ----------------------------------------------------------------------------
    @staticmethod
    def vocabulary_from_domain(domain: Domain, use_requested_slot: bool | None = None) -> dict[str, Any]:
        """The names each block of the turn vector is indexed by (JSON-ready)."""
        spec = spec_for(domain)
        if use_requested_slot is None:
            slot = domain.slots.get(REQUESTED_SLOT)
            use_requested_slot = bool(slot and slot.influence_conversation)
        requested: list[str] | None = None
        if use_requested_slot:
            requested = []
            for form in domain.forms.values():
                requested += [s for s in form.required_slots if s not in requested]
        return {
            "intents": list(domain.all_intents),
            "entity_labels": list(spec.all_entity_labels),
            "action_names": list(domain.action_names),
            "loops": list(spec.loop_names),
            "slots": [
                [name, slot_feature_size(spec.slots[name])]
                for name in spec.featurized_slots
                if name != REQUESTED_SLOT or not use_requested_slot
            ],
            "requested_slots": requested,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this featurizer without the domain."""
        return {"max_history": self.max_history, "vocabulary": self.vocabulary}

    @classmethod
    def from_dict(cls, data: dict[str, Any], domain: Domain | None = None) -> TrackerFeaturizer:
        return cls(domain, max_history=data["max_history"], vocabulary=data["vocabulary"])

    # -- sizes -----------------------------------------------------------------------------------
    @property
    def observation_size(self) -> int:
        """Length of :meth:`featurize`'s vector."""
        return self.max_history * self.turn_size

    @property
    def observation_space(self) -> Any:
        """``gymnasium.spaces.Box(0, 1, (observation_size,), float32)``."""
        from gymnasium import spaces

        return spaces.Box(0.0, 1.0, shape=(self.observation_size,), dtype=np.float32)

    @property
    def uses_requested_slot(self) -> bool:
        return self.requested_slots is not None

    # -- featurisation ---------------------------------------------------------------------------
    def featurize_state(self, state: State) -> np.ndarray:
        """One turn vector (float32, ``turn_size``)."""
        vector = np.zeros(self.turn_size, dtype=np.float32)
        self._fill(vector, state)
        return vector

    def _fill(self, vector: np.ndarray, state: State) -> None:
        if USER in state and is_prev_action_listen(state):
            user = state[USER]
            index = self._index["intent"].get(user.get(INTENT))
            if index is not None:
                vector[self._offsets["intent"] + index] = 1.0
            for label in user.get(ENTITIES, ()):
                index = self._index["entity"].get(label)
                if index is not None:
                    vector[self._offsets["entity"] + index] = 1.0
        index = self._index["action"].get(prev_action_name(state))
        if index is not None:
            vector[self._offsets["action"] + index] = 1.0
        index = self._index["loop"].get(state.get(ACTIVE_LOOP, {}).get(LOOP_NAME))
        if index is not None:
            vector[self._offsets["loop"] + index] = 1.0
        for name, features in state.get(SLOTS, {}).items():
            where = self._slot_offsets.get(name)
            if where is None or features == SHOULD_NOT_BE_SET or len(features) != where[1]:
                continue
            vector[where[0]: where[0] + where[1]] = features
        if self.requested_slots is not None:
            index = self._index["requested"].get(state.get(REQUESTED, {}).get(LOOP_NAME))
            if index is not None:
                vector[self._offsets["requested"] + index] = 1.0

    def featurize_states(self, states: Sequence[State]) -> np.ndarray:
        """The observation for a run of states: the last ``max_history``, oldest first, zero-padded."""
        observation = np.zeros((self.max_history, self.turn_size), dtype=np.float32)
        window = list(states[-self.max_history:]) if self.max_history else []
        start = self.max_history - len(window)
        for row, state in enumerate(window, start=start):
            self._fill(observation[row], state)
        return observation.reshape(-1)

    def states(self, tracker: TrackerLike, domain: Domain | None = None) -> list[State]:
        """The states this featurizer reads (with the requested slot when it uses it)."""
        domain = domain or self.domain
        if domain is None:
            raise ValueError("featurizing a tracker needs the domain (pass domain=...)")
        events = tracker.events if isinstance(tracker, DialogueStateTracker) else list(tracker)
        return tracker_states(events, domain, with_requested_slot=self.uses_requested_slot)

    def featurize(self, tracker: TrackerLike, domain: Domain | None = None) -> np.ndarray:
        """The observation (float32, ``observation_size``) for the conversation so far."""
        return self.featurize_states(self.states(tracker, domain))

    def describe(self, observation: np.ndarray) -> list[list[str]]:
        """Human-readable names of the set features of each turn (oldest first), for debugging."""
        names: list[str] = (
            [f"intent:{n}" for n in self.intents]
            + [f"entity:{n}" for n in self.entity_labels]
            + [f"prev:{n}" for n in self.action_names]
            + [f"loop:{n}" for n in self.loops]
            + [f"slot:{n}[{i}]" for n, size in self.slots for i in range(size)]
            + [f"requested:{n}" for n in (self.requested_slots or [])]
        )
        turns = np.asarray(observation, dtype=np.float32).reshape(self.max_history, self.turn_size)
        return [[f"{names[i]}={turn[i]:g}" for i in np.flatnonzero(turn)] for turn in turns]
