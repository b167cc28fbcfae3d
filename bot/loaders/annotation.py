"""Rasa's inline entity annotation: ``[text](entity)`` and ``[text]{"entity": .., "role": ..}``."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.training_data import EntitySpan

ENTITY_REGEX = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\]"
    r"(\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}"
    r"|\[(?P<list_entity_dicts>.*?)\])"
)
_ALLOWED_KEYS = {"entity", "value", "role", "group"}


class AnnotationError(ValueError):
    """A malformed annotation; ``offset`` is the 0-based character offset in the raw example."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _dict_annotation(raw: str, offset: int) -> dict[str, Any]:
    try:
        parsed = json.loads("{" + raw + "}")
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"entity annotation {{{raw}}} is not valid JSON: {exc.msg}", offset) from None
    if not isinstance(parsed, dict) or "entity" not in parsed:
        raise AnnotationError(f"entity annotation {{{raw}}} needs an \"entity\" key", offset)
    unknown = set(parsed) - _ALLOWED_KEYS
    if unknown:
        raise AnnotationError(
            f"entity annotation has unknown key(s) {sorted(unknown)}; allowed: entity, value, role, group", offset
        )
    return parsed


def parse_annotated(raw: str) -> tuple[str, list[EntitySpan]]:
    """Strip annotations from ``raw``; return the plain text and its entity spans.

    :raises AnnotationError: unclosed brackets, bad JSON, missing entity name
    """
    entities: list[EntitySpan] = []
    plain_parts: list[str] = []
    cursor = 0
    plain_len = 0
    for match in ENTITY_REGEX.finditer(raw):
        before = raw[cursor : match.start()]
        _check_stray_brackets(before, cursor)
        plain_parts.append(before)
        plain_len += len(before)
        text = match.group("entity_text")
        start, end = plain_len, plain_len + len(text)
        annotations: list[dict[str, Any]]
        if match.group("entity") is not None:
            annotations = [{"entity": match.group("entity").strip(), "value": match.group("value")}]
        elif match.group("entity_dict") is not None:
            annotations = [_dict_annotation(match.group("entity_dict"), match.start("entity_dict") - 1)]
        else:
            listed = match.group("list_entity_dicts")
            try:
                items = json.loads("[" + listed + "]")
            except json.JSONDecodeError as exc:
                raise AnnotationError(f"entity list [{listed}] is not valid JSON: {exc.msg}", match.start()) from None
            annotations = []
            for item in items:
                if not isinstance(item, dict) or "entity" not in item:
                    raise AnnotationError("each item of an entity list needs an \"entity\" key", match.start())
                annotations.append(item)
        for ann in annotations:
            name = str(ann.get("entity") or "").strip()
            if not name:
                raise AnnotationError(f"annotation [{text}] has an empty entity name", match.start())
            entities.append(
                EntitySpan(
                    start=start,
                    end=end,
                    text=text,
                    entity=name,
                    value=ann.get("value"),
                    role=ann.get("role"),
                    group=None if ann.get("group") is None else str(ann.get("group")),
                )
            )
        plain_parts.append(text)
        plain_len += len(text)
        cursor = match.end()
    rest = raw[cursor:]
    _check_stray_brackets(rest, cursor)
    plain_parts.append(rest)
    return "".join(plain_parts), entities


def _check_stray_brackets(segment: str, base: int) -> None:
    """An ``[`` left over outside a valid annotation is almost always a typo: report it."""
    open_at = segment.find("[")
    if open_at < 0:
        return
    close_at = segment.find("]", open_at)
    if close_at < 0:
        raise AnnotationError("unclosed '[' in entity annotation (expected '[text](entity)')", base + open_at)
    raise AnnotationError(
        "'[...]' is not followed by '(entity)' or '{\"entity\": ...}'; to annotate write '[text](entity)'",
        base + open_at,
    )
