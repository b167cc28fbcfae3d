"""Rasa-style dialogue states: what a conversation looks like to a policy, one state per action.

A state is a small dict of dicts, exactly as Rasa 3.x builds it::

    {"user": {"intent": "track_order", "entities": ("order_id",)},
     "prev_action": {"action_name": "action_listen"},
     "active_loop": {"name": "track_form"},
     "slots": {"sentiment": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)}}

:func:`tracker_states` replays a conversation's events and returns the state before each action
plus the final state. Memoization and rules use them as (JSON) keys; the ML featurizer turns them into
vectors. Events are replayed with Rasa's "applied events" semantics, including the loop rule: a form
that runs again on its happy path hides the turns since its previous run, so a form that took three
questions looks like one form step to every policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import events as ev
from bot.constants import (
    ACTION_LISTEN_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    REQUESTED_SLOT,
    SENTIMENT_LABELS,
    SENTIMENT_SLOT,
)
from bot.domain import Domain, Slot
from bot.events import EventDict
from policies.constants import (
    ACTION_NAME,
    ACTIVE_LOOP,
    ENTITIES,
    ENTITY_LABEL_SEPARATOR,
    INTENT,
    LOOP_NAME,
    PREVIOUS_ACTION,
    REQUESTED,
    SHOULD_NOT_BE_SET,
    SLOTS,
    USER,
)

State = dict[str, dict[str, Any]]
OTHER_CATEGORY = "__other__"
_FEATURELESS_TYPES = {"any"}


# ---------------------------------------------------------------------------------------------
# slot features

def categorical_values(slot: Slot) -> list[str]:
    """The categories of a categorical slot, lower-cased (``sentiment`` defaults to Kefu's labels)."""
    values = slot.values or (list(SENTIMENT_LABELS) if slot.name == SENTIMENT_SLOT else [])
    return [str(v).lower() for v in values]


def slot_feature_size(slot: Slot) -> int:
    """How many numbers :func:`slot_features` returns for ``slot`` (0: the slot shapes nothing)."""
    if not slot.influence_conversation or slot.type in _FEATURELESS_TYPES:
        return 0
    if slot.type in ("bool", "float"):
        return 2
    if slot.type == "categorical":
        return len(categorical_values(slot)) + 1
    return 1  # text, list and custom slot classes: "is it set?"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "y", "on")
    return bool(value)


def slot_features(slot: Slot, value: Any) -> tuple[float, ...]:
    """Rasa's ``Slot.as_feature()``: text/list = is set; bool = (is set, value); float = (is set, scaled);
    categorical = one-hot over the values plus ``__other__``. All zeros when the slot is unset."""
    size = slot_feature_size(slot)
    if size == 0:
        return ()
    if value is None:
        return (0.0,) * size
    if slot.type == "bool":
        return (1.0, 1.0 if _as_bool(value) else 0.0)
    if slot.type == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return (1.0, 0.0)
        low, high = float(slot.min_value), float(slot.max_value)
        span = high - low
        capped = min(max(number, low), high)
        return (1.0, (capped - low) / span if span else 1.0)
    if slot.type == "list":
        return (1.0 if value else 0.0,)
    if slot.type == "categorical":
        values = categorical_values(slot)
        one_hot = [0.0] * (len(values) + 1)
        text = str(value).lower()
        one_hot[values.index(text) if text in values else len(values)] = 1.0
        return tuple(one_hot)
    return (1.0,)


# ---------------------------------------------------------------------------------------------
# what a domain contributes to a state

@dataclass
class StateSpec:
    """The parts of a domain that shape states (derived once per domain and cached)."""

    slots: dict[str, Slot]
    featurized_slots: list[str]
    used_entities: dict[str, set[str]]  # intent -> entity labels it passes on (incl. entity#role)
    all_entity_labels: list[str]
    loop_names: list[str]
    initial_values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_domain(cls, domain: Domain) -> StateSpec:
        slots = domain.all_slots()
        featurized = [name for name, slot in slots.items() if slot_feature_size(slot) > 0]
        labels: list[str] = []
        for entity in domain.entities:
            if domain.entity_influence.get(entity) is False:
                continue
            labels.append(entity)
            labels += [f"{entity}{ENTITY_LABEL_SEPARATOR}{r}" for r in domain.entity_roles.get(entity, [])]
            labels += [f"{entity}{ENTITY_LABEL_SEPARATOR}{g}" for g in domain.entity_groups.get(entity, [])]
        used: dict[str, set[str]] = {}
        for intent in domain.all_intents:
            allowed = set(domain.entities_for_intent(intent))
            used[intent] = {label for label in labels if label.split(ENTITY_LABEL_SEPARATOR, 1)[0] in allowed}
        loops = list(domain.forms)
        if ACTION_TWO_STAGE_FALLBACK_NAME not in loops:
            loops.append(ACTION_TWO_STAGE_FALLBACK_NAME)
        return cls(
            slots=slots,
            featurized_slots=featurized,
            used_entities=used,
            all_entity_labels=labels,
            loop_names=loops,
            initial_values={name: slot.initial_value for name, slot in slots.items()},
        )


_SPEC_CACHE: list[tuple[Domain, StateSpec]] = []


def spec_for(domain: Domain) -> StateSpec:
    """The (cached) :class:`StateSpec` of ``domain``; the cache holds the last few domains by identity."""
    for cached_domain, spec in _SPEC_CACHE:
        if cached_domain is domain:
            return spec
    spec = StateSpec.from_domain(domain)
    _SPEC_CACHE.insert(0, (domain, spec))
    del _SPEC_CACHE[4:]
    return spec


def entity_labels(entities: Iterable[dict[str, Any]]) -> set[str]:
    """``order_id``, ``city#from``, … for every entity (Rasa's role/group labels)."""
    labels: set[str] = set()
    for entity in entities or []:
        name = entity.get("entity")
        if not name:
            continue
        labels.add(str(name))
        for key in ("role", "group"):
            if entity.get(key):
                labels.add(f"{name}{ENTITY_LABEL_SEPARATOR}{entity[key]}")
    return labels


# ---------------------------------------------------------------------------------------------
# applied events (Rasa's semantics, including the happy-path loop rule)

def _undo_till_previous(kind: str, applied: list[EventDict]) -> None:
    while applied:
        if applied.pop().get("event") == kind:
            break


def _first_loop_execution_or_unhappy_path(loop: str, applied: Sequence[EventDict]) -> bool:
    next_action: str | None = None
    for event in reversed(applied):
        kind = event.get("event")
        if kind == ev.ACTIVE_LOOP and event.get("name") is None:
            return True  # the loop was deactivated since: this is a fresh run
        if kind == ev.ACTION_EXECUTION_REJECTED and event.get("name") == loop:
            return True
        if kind == ev.USER and next_action is not None and next_action != loop:
            return True  # something else answered the user: an unhappy path
        if kind == ev.ACTION:
            if event.get("name") == loop:
                return False
            next_action = event.get("name")
    return True


def _undo_till_previous_loop_execution(loop: str, applied: list[EventDict]) -> None:
    offset = 0
    for event in reversed(applied[:]):
        kind = event.get("event")
        if kind == ev.ACTION and event.get("name") == loop:
            break
        if kind in (ev.ACTION, ev.USER):
            del applied[len(applied) - 1 - offset]
        else:
            offset += 1


def applied_events_for_policies(events: Iterable[EventDict]) -> list[EventDict]:
    """The events policies see: restarts, sessions, rewinds and undos applied, and a form's repeated
    happy-path runs folded into its first run (Rasa's ``DialogueStateTracker.applied_events``).
    A user message that does not follow ``action_listen`` gets one in front, as Rasa's trackers have."""
    events = list(events)
    loop_names = {
        e.get("name") for e in events
        if e.get("event") == ev.ACTIVE_LOOP and e.get("name") and e.get("name") != SHOULD_NOT_BE_SET
    }
    applied: list[EventDict] = []
    for event in events:
        kind = event.get("event")
        if kind in (ev.RESTART, ev.SESSION_STARTED):
            applied = []
        elif kind == ev.UNDO:
            _undo_till_previous(ev.ACTION, applied)
        elif kind == ev.REWIND:
            _undo_till_previous(ev.USER, applied)
            _undo_till_previous(ev.ACTION, applied)
        elif (
            kind == ev.ACTION
            and event.get("name") in loop_names
            and not _first_loop_execution_or_unhappy_path(event["name"], applied)
        ):
            _undo_till_previous_loop_execution(event["name"], applied)
        else:
            if kind == ev.USER and _latest_action_name(applied) != ACTION_LISTEN_NAME:
                # Rasa logs `action_listen` before every user message; supply it when a tracker lacks it
                applied.append(_IMPLICIT_LISTEN)
            applied.append(event)
    return applied


_IMPLICIT_LISTEN: EventDict = ev.ActionExecuted(ACTION_LISTEN_NAME, timestamp=0.0)


def _latest_action_name(applied: Sequence[EventDict]) -> str | None:
    for event in reversed(applied):
        if event.get("event") == ev.ACTION:
            return event.get("name")
    return None


def is_loop_rejected(events: Iterable[EventDict]) -> bool:
    """Whether the active loop's latest run was rejected (Rasa: reset when the loop runs again)."""
    from bot.tracker import applied_events

    loop: str | None = None
    rejected = False
    for event in applied_events(events):
        kind = event.get("event")
        if kind == ev.ACTIVE_LOOP:
            name = event.get("name")
            loop = name if name and name != SHOULD_NOT_BE_SET else None
            rejected = False
        elif kind == ev.ACTION_EXECUTION_REJECTED and loop and event.get("name") == loop:
            rejected = True
        elif kind == ev.ACTION and loop and event.get("name") == loop:
            rejected = False
    return rejected


# ---------------------------------------------------------------------------------------------
# states

@dataclass
class _Replay:
    spec: StateSpec
    omit_unset_slots: bool
    with_requested_slot: bool
    slots: dict[str, Any] = field(default_factory=dict)
    set_slots: set[str] = field(default_factory=set)
    intent: str | None = None
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    has_message: bool = False
    latest_action: str | None = None
    active_loop: str | None = None

    def __post_init__(self) -> None:
        self.slots = dict(self.spec.initial_values)

    def apply(self, event: EventDict) -> None:
        kind = event.get("event")
        if kind == ev.USER:
            parse = event.get("parse_data") or {}
            self.intent = (parse.get("intent") or {}).get("name")
            self.text = event.get("text")
            self.entities = list(parse.get("entities") or [])
            self.has_message = self.intent is not None or bool(self.text)
        elif kind == ev.ACTION:
            self.latest_action = event.get("name")
        elif kind == ev.SLOT:
            self.slots[event.get("name")] = event.get("value")
            self.set_slots.add(event.get("name"))
        elif kind == ev.RESET_SLOTS:
            self.slots = dict(self.spec.initial_values)
        elif kind == ev.ACTIVE_LOOP:
            self.active_loop = event.get("name") or None

    def state(self) -> State:
        state: State = {}
        if self.has_message:
            user: dict[str, Any] = {}
            if self.intent is not None:
                user[INTENT] = self.intent
                wanted = self.spec.used_entities.get(self.intent)
            else:
                user["text"] = self.text
                wanted = None
            labels = entity_labels(self.entities)
            if wanted is not None:
                labels &= wanted
            if labels:
                user[ENTITIES] = tuple(sorted(labels))
            state[USER] = user
        slots: dict[str, Any] = {}
        for name in self.spec.featurized_slots:
            if self.omit_unset_slots and name not in self.set_slots:
                continue
            value = self.slots.get(name)
            if value == SHOULD_NOT_BE_SET:
                slots[name] = SHOULD_NOT_BE_SET
                continue
            features = slot_features(self.spec.slots[name], value)
            if any(features):
                slots[name] = features
        if slots:
            state[SLOTS] = slots
        if self.latest_action:
            state[PREVIOUS_ACTION] = {ACTION_NAME: self.latest_action}
        if self.active_loop:
            state[ACTIVE_LOOP] = {LOOP_NAME: self.active_loop}
        if self.with_requested_slot:
            requested = self.slots.get(REQUESTED_SLOT)
            if requested and requested != SHOULD_NOT_BE_SET:
                state[REQUESTED] = {LOOP_NAME: str(requested)}
        return state


def iter_states(
    events: Iterable[EventDict],
    domain: Domain,
    omit_unset_slots: bool = False,
    with_requested_slot: bool = False,
) -> Iterator[tuple[State, EventDict | None]]:
    """Yield ``(state, action event)`` for the state before each applied action, then ``(state, None)``."""
    replay = _Replay(spec_for(domain), omit_unset_slots, with_requested_slot)
    for event in applied_events_for_policies(events):
        if event.get("event") == ev.ACTION:
            yield replay.state(), event
        replay.apply(event)
    yield replay.state(), None


def tracker_states(
    events: Iterable[EventDict],
    domain: Domain,
    omit_unset_slots: bool = False,
    with_requested_slot: bool = False,
) -> list[State]:
    """The state before each applied action, plus the current state (last)."""
    return [state for state, _ in iter_states(events, domain, omit_unset_slots, with_requested_slot)]


def states_and_actions(
    events: Iterable[EventDict],
    domain: Domain,
    omit_unset_slots: bool = False,
    with_requested_slot: bool = False,
) -> tuple[list[State], list[EventDict]]:
    """All states (``len(actions) + 1`` of them) and the action events that followed each."""
    states: list[State] = []
    actions: list[EventDict] = []
    for state, action in iter_states(events, domain, omit_unset_slots, with_requested_slot):
        states.append(state)
        if action is not None:
            actions.append(action)
    return states, actions


def state_key(states: Sequence[State]) -> str:
    """A stable, hashable key for a run of states (sorted JSON, as Rasa's lookups use)."""
    return json.dumps(list(states), sort_keys=True)


def key_states(key: str) -> list[State]:
    """The states a :func:`state_key` was made of (tuples come back as lists)."""
    return json.loads(key)


def prev_action_name(state: State) -> str | None:
    return state.get(PREVIOUS_ACTION, {}).get(ACTION_NAME)


def active_loop_name(state: State) -> str | None:
    name = state.get(ACTIVE_LOOP, {}).get(LOOP_NAME)
    return None if name == SHOULD_NOT_BE_SET else name


def is_prev_action_listen(state: State) -> bool:
    return prev_action_name(state) == ACTION_LISTEN_NAME


def format_states(states: Sequence[State]) -> str:
    """A one-line-per-state description for debug logs (``kefu shell --debug``)."""
    lines = []
    for index, state in enumerate(states):
        parts = []
        if USER in state:
            user = state[USER]
            parts.append(f"user: {user.get(INTENT) or user.get('text')}"
                         + (f" {list(user[ENTITIES])}" if ENTITIES in user else ""))
        if PREVIOUS_ACTION in state:
            parts.append(f"prev: {prev_action_name(state)}")
        if ACTIVE_LOOP in state:
            parts.append(f"loop: {state[ACTIVE_LOOP].get(LOOP_NAME)}")
        if SLOTS in state:
            parts.append("slots: " + ", ".join(f"{k}={v}" for k, v in sorted(state[SLOTS].items())))
        lines.append(f"[{index}] " + (" | ".join(parts) or "(start)"))
    return "\n".join(lines)
