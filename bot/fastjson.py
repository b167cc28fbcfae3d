"""JSON on the hot path (tracker stores, action-server calls, webhook replies), written by orjson.

orjson writes the same compact JSON several times faster than the standard library; anything it refuses
(an int wider than 64 bits, a dict with non-string keys, a type it does not know) goes through
:mod:`json` instead, so callers see the standard library's behaviour either way.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON (``separators=(",", ":")``, non-ASCII kept as is)."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps(data: Any) -> str:
    """Compact JSON text, as :func:`dumps_bytes`."""
    return dumps_bytes(data).decode("utf-8")


def loads(text: str | bytes) -> Any:
    """Parse JSON text or bytes."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # raises again, with the standard library's line-and-column message
