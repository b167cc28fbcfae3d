"""Message interpreters: what turns a user's text into a parse result.

The real one is the NLU model (``nlu.NLUPipeline``); the dialogue engine only needs something with a
``parse(text) -> dict`` method in Rasa's ``/model/parse`` shape. :class:`RegexInterpreter`
understands Rasa's payload syntax ``/intent{"entity": "value"}@0.9`` (what buttons send), which the
processor always honours first, as Rasa does.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from bot.parse_result import ParseResult, empty_parse_result

_PAYLOAD = re.compile(r"^/(?P<intent>[^{@\s]+)(?P<entities>{.*})?(?:@(?P<confidence>[0-9.]+))?\s*$", re.DOTALL)


class Interpreter(Protocol):
    """Anything that parses a message (the NLU pipeline, or a stub in tests)."""

    def parse(self, text: str) -> dict[str, Any]: ...


def is_payload(text: str | None) -> bool:
    """Whether ``text`` uses the ``/intent{...}`` payload syntax."""
    return bool(text) and _PAYLOAD.match(text.strip()) is not None  # type: ignore[union-attr]


def parse_payload(text: str) -> ParseResult | None:
    """The parse result of a ``/intent{"e": "v"}@0.9`` payload, or None when ``text`` is not one."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    intent = match.group("intent")
    confidence = float(match.group("confidence")) if match.group("confidence") else 1.0
    entities: list[dict[str, Any]] = []
    raw = match.group("entities")
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            for name, value in data.items():
                values = value if isinstance(value, list) else [value]
                for item in values:
                    entities.append({
                        "entity": name, "start": match.start("entities"), "end": match.end("entities"),
                        "value": item, "confidence_entity": 1.0, "extractor": "RegexInterpreter",
                    })
    return {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
        "entities": entities,  # type: ignore[typeddict-item]
    }


class RegexInterpreter:
    """Understands only ``/intent{"entity": "value"}`` payloads; anything else has no intent."""

    def parse(self, text: str) -> dict[str, Any]:
        return dict(parse_payload(text) or empty_parse_result(text))
