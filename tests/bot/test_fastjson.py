"""The hot-path JSON helpers: same JSON as the standard library, and its behaviour where orjson refuses."""

from __future__ import annotations

import json

import pytest

from bot import fastjson

EVENTS = [
    {"event": "user", "text": "où est ma commande #A12345 ? 你好", "timestamp": 1765000000.123456,
     "parse_data": {"intent": {"name": "track_order", "confidence": 0.98}, "entities": [], "x": None}},
    {"event": "slot", "name": "count", "value": 3, "flag": True, "nested": [1.5, {"a": []}]},
]


def test_round_trip_equals_the_standard_library() -> None:
    text = fastjson.dumps(EVENTS)
    assert json.loads(text) == EVENTS
    assert fastjson.loads(text) == EVENTS
    assert fastjson.loads(text.encode("utf-8")) == EVENTS
    assert "你好" in text and " " not in fastjson.dumps({"a": [1, 2]})  # compact, non-ASCII kept


def test_what_orjson_refuses_goes_through_the_standard_library() -> None:
    huge = 2**70
    assert json.loads(fastjson.dumps({"n": huge})) == {"n": huge}
    assert json.loads(fastjson.dumps({1: "a"})) == {"1": "a"}
    with pytest.raises(TypeError):
        fastjson.dumps({"s": {1, 2}})


def test_bad_json_raises_value_error_with_the_position() -> None:
    with pytest.raises(ValueError, match="line 1 column"):
        fastjson.loads('{"a": ')
