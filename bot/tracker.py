"""The dialogue state tracker: a conversation's events and the state they add up to.

Stdlib only. State is always derived by replaying events with Rasa's semantics (``restart`` and
``session_started`` start afresh, ``rewind`` removes the last user turn, ``undo`` the last action),
so a tracker rebuilt from a store is identical to the one that wrote it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from bot.domain import Domain
from bot.events import EventDict

INCLUDE_ALL = "ALL"
INCLUDE_APPLIED = "APPLIED"
INCLUDE_AFTER_RESTART = "AFTER_RESTART"
INCLUDE_NONE = "NONE"
EVENT_VERBOSITY = (INCLUDE_ALL, INCLUDE_APPLIED, INCLUDE_AFTER_RESTART, INCLUDE_NONE)


def _undo_till_previous(event_type: str, applied: list[EventDict]) -> None:
    while applied:
        last = applied.pop()
        if last.get("event") == event_type:
            break


def applied_events(events: Iterable[EventDict]) -> list[EventDict]:
    """The events that still count after restarts, sessions, rewinds and undos (Rasa's semantics)."""
    applied: list[EventDict] = []
    for event in events:
        kind = event.get("event")
        if kind in (ev.RESTART, ev.SESSION_STARTED):
            applied = []
            if kind == ev.SESSION_STARTED:
                applied.append(event)
        elif kind == ev.UNDO:
            _undo_till_previous(ev.ACTION, applied)
        elif kind == ev.REWIND:
            _undo_till_previous(ev.USER, applied)
            _undo_till_previous(ev.ACTION, applied)
        else:
            applied.append(event)
    return applied


class DialogueStateTracker:
    """One conversation: its sender id, every event, and the slots/loop/pause state they imply.

    :param sender_id: the conversation's id
    :param slot_defaults: initial value of each slot (from the domain)
    :param events: events to replay
    """

    def __init__(
        self, sender_id: str, slot_defaults: dict[str, Any] | None = None, events: Iterable[EventDict] = ()
    ) -> None:
        self.sender_id = sender_id
        self.slot_defaults: dict[str, Any] = dict(slot_defaults or {})
        self.events: list[EventDict] = []
        self._reset_state()
        for event in events:
            self.update(event)

    @classmethod
    def from_domain(cls, sender_id: str, domain: Domain, events: Iterable[EventDict] = ()) -> DialogueStateTracker:
        defaults = {name: slot.initial_value for name, slot in domain.all_slots().items()}
        return cls(sender_id, defaults, events)

    @classmethod
    def from_dict(cls, data: dict[str, Any], slot_defaults: dict[str, Any] | None = None) -> DialogueStateTracker:
        return cls(str(data["sender_id"]), slot_defaults, data.get("events") or [])

    # -- state ------------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.slots: dict[str, Any] = copy.deepcopy(self.slot_defaults)
        self.latest_message: dict[str, Any] = {"text": None, "intent": {}, "entities": []}
        self.latest_input_channel: str | None = None
        self.active_loop: dict[str, Any] = {}
        self.paused = False
        self.followup_action: str | None = ACTION_LISTEN_NAME
        self.latest_action: dict[str, Any] = {}
        self.latest_bot_utterance: dict[str, Any] | None = None
        self.handoff_reason: str | None = None

    def _replay(self) -> None:
        self._reset_state()
        for event in applied_events(self.events):
            self._apply(event)

    def _apply(self, event: EventDict) -> None:
        kind = event.get("event")
        if kind == ev.USER:
            self.latest_message = {
                "text": event.get("text"),
                **{k: v for k, v in (event.get("parse_data") or {}).items() if k != "text"},
                "message_id": event.get("message_id"),
                "metadata": event.get("metadata") or {},
            }
            self.latest_message.setdefault("intent", {})
            self.latest_message.setdefault("entities", [])
            self.latest_input_channel = event.get("input_channel")
            self.followup_action = None
        elif kind == ev.BOT:
            self.latest_bot_utterance = event
        elif kind == ev.ACTION:
            self.latest_action = {"action_name": event.get("name")}
            self.followup_action = None
            if self.active_loop and event.get("name") == self.active_loop.get("name"):
                self.active_loop["rejected"] = False  # the loop ran again: a rejection is spent
                self.active_loop["validate"] = True
        elif kind == ev.SLOT:
            self.slots[event["name"]] = event.get("value")
        elif kind == ev.RESET_SLOTS:
            self.slots = copy.deepcopy(self.slot_defaults)
        elif kind == ev.ACTIVE_LOOP:
            name = event.get("name")
            if name:
                self.active_loop = {"name": name, "validate": True, "rejected": False,
                                    "trigger_message": dict(self.latest_message)}
            else:
                self.active_loop = {}
        elif kind == ev.LOOP_INTERRUPTED:
            if self.active_loop:
                self.active_loop["validate"] = not event.get("is_interrupted", False)
        elif kind == ev.ACTION_EXECUTION_REJECTED:
            if self.active_loop and event.get("name") == self.active_loop.get("name"):
                self.active_loop["rejected"] = True
        elif kind == ev.FOLLOWUP:
            self.followup_action = event.get("name")
        elif kind == ev.PAUSE:
            self.paused = True
        elif kind == ev.RESUME:
            self.paused = False
            self.handoff_reason = None
        elif kind == ev.HANDOFF:
            self.handoff_reason = event.get("reason") or "requested"

    def update(self, event: EventDict) -> None:
        """Append one event and bring the state up to date."""
        event = ev.with_timestamp(event)
        self.events.append(event)
        if event.get("event") in (ev.RESTART, ev.SESSION_STARTED, ev.REWIND, ev.UNDO):
            self._replay()
        else:
            self._apply(event)

    def update_with_events(self, new_events: Iterable[EventDict]) -> None:
        for event in new_events:
            self.update(event)

    # -- views -------------------------------------------------------------------------------------
    def applied_events(self) -> list[EventDict]:
        return applied_events(self.events)

    def events_after_latest_restart(self) -> list[EventDict]:
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index].get("event") == ev.RESTART:
                return self.events[index + 1 :]
        return list(self.events)

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    @property
    def active_loop_name(self) -> str | None:
        return self.active_loop.get("name") if self.active_loop else None

    @property
    def requested_slot(self) -> Any:
        return self.slots.get(REQUESTED_SLOT)

    @property
    def latest_action_name(self) -> str | None:
        return self.latest_action.get("action_name")

    @property
    def latest_intent(self) -> str | None:
        return (self.latest_message.get("intent") or {}).get("name")

    @property
    def latest_event_time(self) -> float | None:
        return self.events[-1].get("timestamp") if self.events else None

    @property
    def is_handed_off(self) -> bool:
        return self.paused and self.handoff_reason is not None

    def latest_entity_values(self, entity: str, role: str | None = None, group: str | None = None) -> list[Any]:
        return [
            e.get("value")
            for e in self.latest_message.get("entities") or []
            if e.get("entity") == entity
            and (role is None or e.get("role") == role)
            and (group is None or e.get("group") == group)
        ]

    def user_turn_count(self) -> int:
        return sum(1 for e in self.applied_events() if e.get("event") == ev.USER)

    def copy(self) -> DialogueStateTracker:
        return DialogueStateTracker(self.sender_id, self.slot_defaults, copy.deepcopy(self.events))

    def current_state(self, include_events: str = INCLUDE_AFTER_RESTART) -> dict[str, Any]:
        """Rasa's tracker JSON (``GET /conversations/{id}/tracker``)."""
        if include_events == INCLUDE_ALL:
            events: list[EventDict] | None = list(self.events)
        elif include_events == INCLUDE_APPLIED:
            events = self.applied_events()
        elif include_events == INCLUDE_AFTER_RESTART:
            events = self.events_after_latest_restart()
        else:
            events = None
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "latest_event_time": self.latest_event_time,
            "followup_action": self.followup_action,
            "paused": self.paused,
            "events": events,
            "latest_input_channel": self.latest_input_channel,
            "active_loop": dict(self.active_loop),
            "latest_action": dict(self.latest_action),
            "latest_action_name": self.latest_action_name,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything a store needs to rebuild this tracker."""
        return {"sender_id": self.sender_id, "events": list(self.events)}
