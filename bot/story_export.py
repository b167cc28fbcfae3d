"""A conversation as a Rasa YAML story (``GET /conversations/{id}/story``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from bot.tracker import DialogueStateTracker

if TYPE_CHECKING:
    from bot.privacy.pii import PiiMasker


def story_steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The story steps of applied events (listen and session bookkeeping left out)."""
    steps: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == ev.USER:
            parse = event.get("parse_data") or {}
            step: dict[str, Any] = {"intent": (parse.get("intent") or {}).get("name")}
            if event.get("text") and not str(event.get("text")).startswith("/"):
                step["user"] = event["text"]
            entities = []
            for entity in parse.get("entities") or []:
                item = {entity.get("entity"): entity.get("value")}
                for key in ("role", "group"):
                    if entity.get(key):
                        item[key] = entity[key]
                entities.append(item)
            if entities:
                step["entities"] = entities
            steps.append(step)
        elif kind == ev.ACTION and event.get("name") not in (ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME):
            steps.append({"action": event.get("name")})
        elif kind == ev.SLOT:
            if steps and "slot_was_set" in steps[-1]:
                steps[-1]["slot_was_set"].append({event.get("name"): event.get("value")})
            else:
                steps.append({"slot_was_set": [{event.get("name"): event.get("value")}]})
        elif kind == ev.ACTIVE_LOOP:
            steps.append({"active_loop": event.get("name")})
    return steps


def tracker_to_story_yaml(tracker: DialogueStateTracker, masker: PiiMasker | None = None) -> str:
    """The conversation's applied events as a ``stories:`` YAML document (PII masked when ``masker`` is given)."""
    events = tracker.applied_events()
    if masker is not None:
        events = masker.events(events)
    story = {"story": tracker.sender_id, "steps": story_steps(events)}
    return yaml.safe_dump({"version": "3.1", "stories": [story]}, sort_keys=False, allow_unicode=True)
