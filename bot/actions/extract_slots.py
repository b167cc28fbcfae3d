"""``action_extract_slots``: fill slots from the latest user message with Rasa 3's mapping semantics.

Runs after every user message (before any prediction). For each slot, its mappings are tried in
order and the first one that yields a value wins:

- ``from_entity`` (``entity``, optional ``role``/``group`` matched exactly), ``from_text``,
  ``from_intent`` (``value``), ``from_trigger_intent`` (only while no loop is active yet),
- ``intent`` / ``not_intent`` filters; while a form is active its ``ignored_intents`` block mappings
  that apply to it,
- ``conditions: [{active_loop, requested_slot}]``,
- a ``from_entity`` mapping shared by several of the active form's slots only fills the requested one,
- ``custom`` mappings with ``action:`` run that custom action (once per turn); if the domain declares
  ``action_validate_slot_mappings`` it validates what was extracted.

Kefu addition: the ``sentiment`` slot (custom mapping) is filled from the NLU's sentiment label, and the
``language`` slot (custom mapping) from the language the message is written in, when it shows one.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from bot import events as ev
from bot.actions.action import Action
from bot.actions.remote import ActionClient, RemoteAction
from bot.constants import (
    ACTION_EXTRACT_SLOTS_NAME,
    ACTION_VALIDATE_SLOT_MAPPINGS_NAME,
    LANGUAGE_SLOT,
    REQUESTED_SLOT,
    SENTIMENT_SLOT,
)
from bot.events import EventDict
from bot.tracker import DialogueStateTracker

if TYPE_CHECKING:
    from bot.domain import Domain

logger = logging.getLogger(__name__)

FROM_ENTITY = "from_entity"
FROM_TEXT = "from_text"
FROM_INTENT = "from_intent"
FROM_TRIGGER_INTENT = "from_trigger_intent"
CUSTOM = "custom"


def to_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def latest_intent(tracker: DialogueStateTracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def intent_is_desired(mapping: dict[str, Any], tracker: DialogueStateTracker, domain: Domain) -> bool:
    """``intent`` / ``not_intent`` of a mapping, plus the active form's ``ignored_intents``."""
    intents = to_list(mapping.get("intent"))
    not_intents = to_list(mapping.get("not_intent"))
    loop = tracker.active_loop_name
    if loop and loop in domain.forms:
        conditions = mapping.get("conditions") or []
        applies = not conditions or any(c.get("active_loop") == loop for c in conditions if isinstance(c, dict))
        if applies:
            not_intents = not_intents + list(domain.forms[loop].ignored_intents)
    intent = latest_intent(tracker)
    return (not intents and intent not in not_intents) or intent in intents


def conditions_hold(mapping: dict[str, Any], tracker: DialogueStateTracker) -> bool:
    """``conditions: [{active_loop, requested_slot}]`` (any one condition may hold)."""
    conditions = mapping.get("conditions")
    if not conditions or mapping.get("type") == FROM_TRIGGER_INTENT:
        return True
    loop = tracker.active_loop_name
    for condition in conditions:
        if not isinstance(condition, dict):
            continue
        wanted_loop = condition.get("active_loop")
        if wanted_loop is None:
            if loop is None:
                return True
            continue
        if wanted_loop != loop:
            continue
        wanted_slot = condition.get("requested_slot")
        if wanted_slot is None or wanted_slot == tracker.get_slot(REQUESTED_SLOT):
            return True
    return False


def entity_values(mapping: dict[str, Any], tracker: DialogueStateTracker, domain: Domain) -> list[Any]:
    """Values of the mapped entity in the latest message (role and group must match exactly)."""
    intent = latest_intent(tracker)
    allowed = set(domain.entities_for_intent(intent)) if intent and domain.entities else None
    name = mapping.get("entity")
    if allowed is not None and name not in allowed and name in domain.entities:
        return []
    return [
        e.get("value") for e in tracker.latest_message.get("entities") or []
        if e.get("entity") == name and e.get("role") == mapping.get("role") and e.get("group") == mapping.get("group")
    ]


def unique_entity_mappings(form_name: str, domain: Domain) -> set[str]:
    """``from_entity`` mappings that only one of the form's slots uses."""
    seen: dict[str, int] = {}
    form = domain.forms.get(form_name)
    for slot_name in form.required_slots if form else []:
        slot = domain.slots.get(slot_name)
        for mapping in slot.mappings if slot else []:
            if mapping.get("type") == FROM_ENTITY:
                key = json.dumps(mapping, sort_keys=True, default=str)
                seen[key] = seen.get(key, 0) + 1
    return {key for key, count in seen.items() if count == 1}


def fails_unique_entity_check(slot_name: str, mapping: dict[str, Any], tracker: DialogueStateTracker,
                              domain: Domain) -> bool:
    if mapping.get("type") != FROM_ENTITY:
        return False
    form_name = tracker.active_loop_name
    if not form_name or form_name not in domain.forms:
        return False
    if tracker.get_slot(REQUESTED_SLOT) == slot_name:
        return False
    if slot_name not in domain.forms[form_name].required_slots:
        return False
    return json.dumps(mapping, sort_keys=True, default=str) not in unique_entity_mappings(form_name, domain)


def mapped_value(mapping: dict[str, Any], tracker: DialogueStateTracker, domain: Domain) -> list[Any]:
    """The values a predefined mapping extracts from the latest message (empty: nothing)."""
    kind = mapping.get("type")
    if not intent_is_desired(mapping, tracker, domain):
        return []
    if kind == FROM_ENTITY:
        return entity_values(mapping, tracker, domain)
    if kind == FROM_INTENT:
        return [mapping.get("value")]
    if kind == FROM_TRIGGER_INTENT:
        return [mapping.get("value")] if tracker.active_loop_name is None else []
    if kind == FROM_TEXT:
        text = tracker.latest_message.get("text")
        return [text] if text is not None else []
    return []


def sentiment_label(tracker: DialogueStateTracker) -> str | None:
    sentiment = tracker.latest_message.get("sentiment")
    if isinstance(sentiment, dict) and isinstance(sentiment.get("label"), str):
        return sentiment["label"]
    return None


class ActionExtractSlots(Action):
    """Fills slots from the latest user message (see the module docstring).

    :param client: action server client for custom mappings and ``action_validate_slot_mappings``
    """

    def __init__(self, client: ActionClient | None = None) -> None:
        self.client = client

    def name(self) -> str:
        return ACTION_EXTRACT_SLOTS_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        slot_events: list[EventDict] = []
        custom_events: list[EventDict] = []
        executed: set[str] = set()
        for slot_name, slot in domain.slots.items():
            if slot_name == REQUESTED_SLOT:
                continue
            nlu_filled = all(m.get("type") == CUSTOM and not m.get("action") for m in slot.mappings)
            if slot_name == SENTIMENT_SLOT and nlu_filled:
                label = sentiment_label(tracker)
                if label is not None:
                    slot_events.append(ev.SlotSet(SENTIMENT_SLOT, label))
                continue
            if slot_name == LANGUAGE_SLOT and nlu_filled:
                language = tracker.latest_message.get("language")
                if isinstance(language, str) and language != tracker.get_slot(LANGUAGE_SLOT):
                    slot_events.append(ev.SlotSet(LANGUAGE_SLOT, language))
                continue
            for mapping in slot.mappings:
                kind = mapping.get("type")
                if kind == CUSTOM:
                    action_name = mapping.get("action")
                    if action_name and action_name not in executed:
                        executed.add(action_name)
                        custom_events += await self._run_custom(action_name, output_channel, nlg, tracker, domain)
                    continue
                if not conditions_hold(mapping, tracker):
                    continue
                if fails_unique_entity_check(slot_name, mapping, tracker, domain):
                    continue
                values = mapped_value(mapping, tracker, domain)
                values = [v for v in values if v is not None]
                if not values:
                    continue
                value: Any = values if slot.type == "list" else values[-1]
                slot_events.append(ev.SlotSet(slot_name, value))
                break
        return await self._validate(slot_events + custom_events, output_channel, nlg, tracker, domain)

    async def _run_custom(self, action_name: str, output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        try:
            return await RemoteAction(action_name, self.client).run(output_channel, nlg, tracker, domain)
        except Exception as exc:  # a broken custom mapping must not break the turn
            logger.warning("custom slot mapping action '%s' failed: %s", action_name, exc)
            return []

    async def _validate(self, events: list[EventDict], output_channel, nlg, tracker, domain) -> list[EventDict]:  # type: ignore[no-untyped-def]
        if ACTION_VALIDATE_SLOT_MAPPINGS_NAME not in domain.actions or not events:
            return events
        temporary = DialogueStateTracker(tracker.sender_id, tracker.slot_defaults,
                                         tracker.events_after_latest_restart() + events)
        try:
            validated = await RemoteAction(ACTION_VALIDATE_SLOT_MAPPINGS_NAME, self.client).run(
                output_channel, nlg, temporary, domain)
        except Exception as exc:
            logger.warning("'%s' failed, keeping the extracted slots: %s", ACTION_VALIDATE_SLOT_MAPPINGS_NAME, exc)
            return events
        validated_names = {e.get("name") for e in validated if e.get("event") == ev.SLOT}
        return validated + [e for e in events if e.get("event") != ev.SLOT or e.get("name") not in validated_names]
