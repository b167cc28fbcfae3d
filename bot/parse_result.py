"""Rasa's ``/model/parse`` result shape, as TypedDicts (stdlib only, shared vocabulary).

``nlu`` produces a :class:`ParseResult` for each message; the dialogue engine, the tracker's
``latest_message`` and the HTTP API pass it on unchanged. Keys follow Rasa 3.x exactly, plus
Kefu's ``sentiment`` block::

    {"text": "where is [A1234](order_id)",
     "intent": {"name": "track_order", "confidence": 0.97},
     "intent_ranking": [{"name": "track_order", "confidence": 0.97}, ...],   # at most 10
     "entities": [{"entity": "order_id", "start": 9, "end": 14, "value": "A1234",
                   "confidence_entity": 0.99, "extractor": "KefuTransformerClassifier",
                   "processors": ["EntitySynonymMapper"], "role": ..., "group": ...}],
     "sentiment": {"label": "neutral", "confidence": 0.91, "scores": {"neutral": 0.91, ...}},
     "text_tokens": [[0, 5], ...],
     "response_selector": {...}}
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

NLU_FALLBACK_INTENT = "nlu_fallback"
SENTIMENT_LABELS = ("positive", "neutral", "negative", "angry", "anxious")


class IntentPrediction(TypedDict):
    """One intent with its confidence (``intent`` and each ``intent_ranking`` row)."""

    name: str | None
    confidence: float


class EntityPrediction(TypedDict):
    """One extracted entity; ``start``/``end`` are character offsets into ``text``."""

    entity: str
    start: int
    end: int
    value: Any
    confidence_entity: float | None
    extractor: str
    processors: NotRequired[list[str]]
    role: NotRequired[str]
    confidence_role: NotRequired[float]
    group: NotRequired[str]
    confidence_group: NotRequired[float]


class SentimentPrediction(TypedDict):
    """Kefu's sentiment/emotion block: top label, its probability, and every label's probability."""

    label: str
    confidence: float
    scores: dict[str, float]


class ResponseSelection(TypedDict):
    """What Rasa's ResponseSelector reports for one retrieval intent (e.g. ``faq``)."""

    response: dict[str, Any]
    ranking: list[dict[str, Any]]


class ParseResult(TypedDict):
    """The body of Rasa's ``POST /model/parse`` reply, plus ``sentiment``."""

    text: str
    intent: IntentPrediction
    intent_ranking: list[IntentPrediction]
    entities: list[EntityPrediction]
    sentiment: NotRequired[SentimentPrediction]
    text_tokens: NotRequired[list[list[int]]]
    response_selector: NotRequired[dict[str, Any]]
    language: NotRequired[str]  # Kefu: the language the message is written in (``en``/``zh``), when it shows


def empty_parse_result(text: str) -> ParseResult:
    """A result with no intent (what Rasa returns for an empty message)."""
    return {
        "text": text,
        "intent": {"name": None, "confidence": 0.0},
        "intent_ranking": [],
        "entities": [],
    }

