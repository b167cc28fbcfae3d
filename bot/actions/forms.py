"""Forms (Rasa's ``FormAction``): ask for each required slot, validate through the action server.

- activation validates slots that were already filled (``validate_<form>`` if the domain declares it);
- after a user message the slots extracted this turn are validated; nothing extracted for the
  requested slot (and no explicit rejection) rejects the form's execution so other policies can
  handle the interruption; a 400 from ``validate_<form>`` is a rejection too;
- the next empty required slot is asked for with ``action_ask_<form>_<slot>``,
  ``utter_ask_<form>_<slot>``, ``action_ask_<slot>`` or ``utter_ask_<slot>`` (first that exists);
- the form is done when ``requested_slot`` is set to null (no slot left, or the validation action
  ended it) or when ``active_loop: null`` was returned.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from bot import events as ev
from bot.actions.action import Action, ActionExecutionRejection
from bot.actions.remote import ActionClient, RemoteAction
from bot.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from bot.events import EventDict
from bot.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

ActionFactory = Callable[[str], Action]


class FormAction(Action):
    """One form of the domain.

    :param form_name: the form's name
    :param client: action server client (for ``validate_<form>`` and ``action_ask_*``)
    :param factory: turns an action name into an action (to ask for slots)
    """

    def __init__(self, form_name: str, client: ActionClient | None, factory: ActionFactory) -> None:
        self._form_name = form_name
        self.client = client
        self.factory = factory

    def name(self) -> str:
        return self._form_name

    # -- the loop -------------------------------------------------------------------------------
    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        events: list[EventDict] = []
        if tracker.active_loop_name != self.name():
            events.append(ev.ActiveLoop(self.name()))
            events += await self.activate(output_channel, nlg, tracker, domain)
        if not self.is_done(events):
            events += await self.do(output_channel, nlg, tracker, domain, events)
        if self.is_done(events):
            events.append(ev.ActiveLoop(None))
        return events

    def required_slots(self, domain: Any) -> list[str]:
        form = domain.forms.get(self._form_name)
        return list(form.required_slots) if form else []

    def slot_to_fill(self, tracker: DialogueStateTracker) -> str | None:
        return tracker.get_slot(REQUESTED_SLOT) if tracker.active_loop_name == self.name() else None

    def temporary_tracker(self, tracker: DialogueStateTracker, extra: list[EventDict]) -> DialogueStateTracker:
        events = tracker.events_after_latest_restart() + [
            ev.SlotSet(REQUESTED_SLOT, self.slot_to_fill(tracker)),
            ev.ActionExecuted(self.name()),
            *extra,
        ]
        return DialogueStateTracker(tracker.sender_id, tracker.slot_defaults, events)

    async def activate(self, output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        prefilled = {s: tracker.get_slot(s) for s in self.required_slots(domain) if tracker.get_slot(s) is not None}
        if not prefilled:
            return []
        return await self.validate_slots(prefilled, output_channel, nlg, tracker, domain)

    async def do(self, output_channel, nlg, tracker, domain, events_so_far) -> list[EventDict]:  # type: ignore[no-untyped-def]
        needs_validation = not tracker.active_loop or (
            tracker.latest_action_name == ACTION_LISTEN_NAME and tracker.active_loop.get("validate", True)
        )
        if needs_validation:
            events = await self.validate(output_channel, nlg, tracker, domain)
        else:  # back from an unhappy path: nothing to validate, but the validation action may change slots
            events = await self.validate_slots({}, output_channel, nlg, tracker, domain)
        if not any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in events):
            events += await self.request_next_slot(output_channel, nlg, tracker, domain, events_so_far + events)
        return events

    @staticmethod
    def is_done(events_so_far: list[EventDict]) -> bool:
        if any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in events_so_far):
            return False
        last_requested = next((e for e in reversed(events_so_far)
                               if e.get("event") == ev.SLOT and e.get("name") == REQUESTED_SLOT), None)
        last_loop = next((e for e in reversed(events_so_far) if e.get("event") == ev.ACTIVE_LOOP), None)
        return (last_requested is not None and last_requested.get("value") is None) or (
            last_loop is not None and last_loop.get("name") is None
        )

    # -- validation -------------------------------------------------------------------------------
    def _unique_entity_mappings(self, domain: Any) -> set[str]:
        counts: dict[str, int] = {}
        for slot_name in self.required_slots(domain):
            slot = domain.slots.get(slot_name)
            for mapping in slot.mappings if slot else []:
                if mapping.get("type") == "from_entity":
                    key = json.dumps(mapping, sort_keys=True, default=str)
                    counts[key] = counts.get(key, 0) + 1
        return {k for k, n in counts.items() if n == 1}

    def slot_candidates(self, tracker: DialogueStateTracker, domain: Any) -> dict[str, Any]:
        """Slots set since the latest user message that this form asks for."""
        if not tracker.active_loop:
            return {}
        required = set(self.required_slots(domain))
        requested = self.slot_to_fill(tracker)
        if requested:
            required.add(requested)
        index = 0
        for i in range(len(tracker.events) - 1, -1, -1):
            if tracker.events[i].get("event") == ev.USER:
                index = i
                break
        unique = self._unique_entity_mappings(domain)
        candidates: dict[str, Any] = {}
        for event in tracker.events[index:]:
            if event.get("event") != ev.SLOT or event.get("name") not in required:
                continue
            name = event["name"]
            slot = domain.slots.get(name)
            mappings = slot.mappings if slot else []
            for mapping in mappings or [{}]:
                non_unique_entity = (
                    mapping.get("type") == "from_entity" and requested != name
                    and json.dumps(mapping, sort_keys=True, default=str) not in unique
                )
                if not non_unique_entity:
                    candidates[name] = event.get("value")
        return candidates

    async def validate(self, output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        candidates = self.slot_candidates(tracker, domain)
        events = await self.validate_slots(candidates, output_channel, nlg, tracker, domain)
        some_validated = any(e.get("event") == ev.SLOT and e.get("name") != REQUESTED_SLOT for e in events)
        rejected_manually = any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in events)
        requested = self.slot_to_fill(tracker)
        if requested and not some_validated and not rejected_manually:
            raise ActionExecutionRejection(self.name(), f"Failed to extract slot {requested} with action {self.name()}")
        return events

    async def validate_slots(self, candidates: dict[str, Any], output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        events = [ev.SlotSet(name, value) for name, value in candidates.items()]
        validate_name = f"validate_{self.name()}"
        if validate_name not in domain.actions:
            return events
        temporary = self.temporary_tracker(tracker, events)
        validated = await RemoteAction(validate_name, self.client).run(output_channel, nlg, temporary, domain)
        validated_names = {e.get("name") for e in validated if e.get("event") == ev.SLOT}
        return validated + [e for e in events if e.get("name") not in validated_names]

    # -- asking -----------------------------------------------------------------------------------
    async def request_next_slot(self, output_channel, nlg, tracker, domain, events_so_far) -> list[EventDict]:  # type: ignore[no-untyped-def]
        if self.is_done(events_so_far):
            return [ev.SlotSet(REQUESTED_SLOT, None)]
        events: list[EventDict] = []
        slot = next((e.get("value") for e in events_so_far
                     if e.get("event") == ev.SLOT and e.get("name") == REQUESTED_SLOT), None)
        temporary = self.temporary_tracker(tracker, events_so_far)
        if not slot:
            slot = next((s for s in self.required_slots(domain) if temporary.get_slot(s) is None), None)
            events.append(ev.SlotSet(REQUESTED_SLOT, slot))
        if slot:
            return events + await self.ask_for_slot(slot, output_channel, nlg, temporary, domain)
        return [ev.SlotSet(REQUESTED_SLOT, None)]

    def ask_action_name(self, slot: str, domain: Any) -> str | None:
        names = set(domain.action_names)
        for candidate in (f"action_ask_{self._form_name}_{slot}", f"utter_ask_{self._form_name}_{slot}",
                          f"action_ask_{slot}", f"utter_ask_{slot}"):
            if candidate in names:
                return candidate
        return None

    async def ask_for_slot(self, slot: str, output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        name = self.ask_action_name(slot, domain)
        if name is None:
            logger.debug("form '%s' has no action or response to ask for slot '%s'", self._form_name, slot)
            return []
        return await self.factory(name).run(output_channel, nlg, tracker, domain)
