"""Slot filling after a simulated user message, from the domain's slot mappings.

The simulator needs the slots a message sets the way the live engine sets them (Rasa's
``action_extract_slots``): ``from_entity``, ``from_text`` and ``from_intent`` mappings with their
``intent`` / ``not_intent`` filters and ``active_loop`` / ``requested_slot`` conditions, plus Kefu's
``sentiment`` slot from the NLU's sentiment block. The mappings are compiled once per domain, so a
turn costs a few dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.constants import SENTIMENT_SLOT
from bot.domain import Domain


@dataclass(frozen=True)
class _Mapping:
    slot: str
    kind: str
    entity: str | None
    role: str | None
    value: Any
    intents: frozenset[str] | None
    not_intents: frozenset[str]
    conditions: tuple[tuple[str | None, str | None], ...]  # (active_loop, requested_slot); None = any

    def applies(self, intent: str | None, loop: str | None, requested: str | None) -> bool:
        if self.intents is not None and intent not in self.intents:
            return False
        if intent in self.not_intents:
            return False
        if not self.conditions:
            return True
        for c_loop, c_req in self.conditions:
            if (c_loop is None or c_loop == loop) and (c_req is None or c_req == requested):
                return True
        return False


def _as_set(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset([value])
    return frozenset(str(v) for v in value)


class SlotFiller:
    """Compiled slot mappings of one domain.

    :param domain: the shop's domain
    """

    def __init__(self, domain: Domain) -> None:
        self.mappings: list[_Mapping] = []
        for name, slot in domain.slots.items():
            for m in slot.mappings:
                kind = m.get("type")
                if kind not in ("from_entity", "from_text", "from_intent"):
                    continue
                conditions = tuple((c.get("active_loop"), c.get("requested_slot")) for c in m.get("conditions") or [])
                self.mappings.append(_Mapping(
                    slot=name, kind=kind, entity=m.get("entity"), role=m.get("role"), value=m.get("value"),
                    intents=_as_set(m.get("intent")), not_intents=_as_set(m.get("not_intent")) or frozenset(),
                    conditions=conditions,
                ))
        self.has_sentiment = SENTIMENT_SLOT in domain.slots

    def fill(self, parse: dict[str, Any], active_loop: str | None, requested_slot: str | None) -> dict[str, Any]:
        """slot -> new value for one parsed message (only slots a mapping sets)."""
        intent = (parse.get("intent") or {}).get("name")
        entities: Iterable[dict[str, Any]] = parse.get("entities") or []
        found: dict[str, Any] = {}
        for m in self.mappings:
            if m.slot in found or not m.applies(intent, active_loop, requested_slot):
                continue
            if m.kind == "from_entity":
                for ent in entities:
                    if ent.get("entity") == m.entity and (m.role is None or ent.get("role") == m.role):
                        found[m.slot] = ent.get("value")
                        break
            elif m.kind == "from_text":
                found[m.slot] = parse.get("text")
            else:  # from_intent
                found[m.slot] = m.value
        if self.has_sentiment:
            label = (parse.get("sentiment") or {}).get("label")
            if label is not None:
                found[SENTIMENT_SLOT] = label
        return found
