"""Token attributions for the predicted intent, by occlusion (``/model/parse?explain=true``, ``kefu shell --explain``).

Each token is removed in turn and the message parsed again; the token's attribution is how much the
predicted intent's confidence drops without it (negative: the token spoke against the intent). It needs
only ``parse(text)``, so it works with any NLU model; the cost is one parse per token, or one batch when
the model offers ``parse_batch`` (about half the time for Kefu's transformer).

Tokens are words and punctuation marks. Chinese text has no spaces, so there every ideograph is a token
(``订单A12345到哪了`` → ``订 单 A12345 到 哪 了``), or the words of the parse result's ``text_tokens`` when the
model has them (jieba words with JiebaTokenizer: ``订单 A12345 到 哪 了``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nlu.cjk import IDEOGRAPH_CLASS, has_cjk, is_cjk

# a word, or a punctuation mark; a CJK ideograph is a word on its own (text without CJK: r"\w+|[^\w\s]")
TOKEN_PATTERN = re.compile(rf"[{IDEOGRAPH_CLASS}]|[^\W{IDEOGRAPH_CLASS}]+|[^\w\s]")
DEFAULT_MAX_TOKENS = 64

ParseFn = Callable[[str], Mapping[str, Any]]
ParseBatchFn = Callable[[Sequence[str]], Sequence[Mapping[str, Any]]]


def intent_confidence(result: Mapping[str, Any], intent: str | None) -> float:
    """The confidence ``result`` gives ``intent`` (from the ranking when it is not the top intent; 0 if absent)."""
    top = result.get("intent") or {}
    if top.get("name") == intent:
        return float(top.get("confidence") or 0.0)
    for entry in result.get("intent_ranking") or []:
        if entry.get("name") == intent:
            return float(entry.get("confidence") or 0.0)
    return 0.0


def token_spans(text: str, result: Mapping[str, Any] | None = None) -> list[tuple[int, int]]:
    """The ``(start, end)`` of the tokens to occlude: :data:`TOKEN_PATTERN`'s matches, or, for CJK text whose
    parse ``result`` has ``text_tokens`` (the pipeline tokenizer's words), those words and the punctuation
    between them."""
    words = _text_tokens(text, result) if has_cjk(text) else None
    if words is None:
        return [m.span() for m in TOKEN_PATTERN.finditer(text)]
    spans: list[tuple[int, int]] = []
    position = 0
    for start, end in [*words, (len(text), len(text))]:
        spans.extend((position + m.start(), position + m.end()) for m in TOKEN_PATTERN.finditer(text[position:start]))
        if end > start:
            spans.append((start, end))
        position = end
    return spans


def _text_tokens(text: str, result: Mapping[str, Any] | None) -> list[tuple[int, int]] | None:
    """``result``'s ``text_tokens`` for ``text``, when they are ordered, non-overlapping spans inside it."""
    if not result or result.get("text") != text or not result.get("text_tokens"):
        return None
    words: list[tuple[int, int]] = []
    position = 0
    for token in result["text_tokens"]:
        try:
            start, end = int(token[0]), int(token[1])
        except (TypeError, ValueError, IndexError):
            return None
        if not position <= start < end <= len(text):
            return None
        words.append((start, end))
        position = end
    return words


def _occlude(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]``: a space stands in for it unless a CJK character is next to it
    (Chinese has no spaces between words), and whitespace is collapsed."""
    before, after = text[:start], text[end:]
    joint = "" if (before and is_cjk(before[-1])) or (after and is_cjk(after[0])) else " "
    return " ".join((before + joint + after).split())


def explain_intent(parse: ParseFn, text: str, result: Mapping[str, Any] | None = None,
                   max_tokens: int = DEFAULT_MAX_TOKENS, parse_batch: ParseBatchFn | None = None) -> dict[str, Any]:
    """Occlusion attributions of ``text``'s tokens for the intent ``parse`` predicts.

    :param parse: the NLU model's ``parse``
    :param result: ``parse(text)`` when the caller has it already
    :param max_tokens: explain at most this many tokens (the rest get no attribution)
    :param parse_batch: the model's batch parse, used for all occluded texts at once when given
    """
    started = time.perf_counter()
    result = result if result is not None else parse(text)
    intent = (result.get("intent") or {}).get("name")
    base = intent_confidence(result, intent)
    tokens: list[dict[str, Any]] = []
    if intent is not None and not text.startswith("/"):
        spans = token_spans(text, result)[:max_tokens]
        occluded = [_occlude(text, start, end) for start, end in spans]
        if parse_batch is not None:
            parsed = list(parse_batch([t for t in occluded if t]))
            results = [parsed.pop(0) if t else None for t in occluded]
        else:
            results = [parse(t) if t else None for t in occluded]
        for (start, end), parsed_without in zip(spans, results, strict=True):
            without = intent_confidence(parsed_without, intent) if parsed_without is not None else 0.0
            tokens.append({"token": text[start:end], "start": start, "end": end,
                           "attribution": round(base - without, 6)})
    return {"method": "occlusion", "intent": intent, "confidence": base, "tokens": tokens,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 3)}


def no_explanation(result: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The explanation's shape when there is nothing to occlude (no NLU model)."""
    intent = (result.get("intent") or {}).get("name")
    return {"method": "occlusion", "intent": intent, "confidence": intent_confidence(result, intent), "tokens": [],
            "latency_ms": 0.0, "note": reason}


def format_explanation(explanation: Mapping[str, Any], top: int = 5) -> str:
    """One line: the tokens that pushed hardest toward the intent, and the time it took."""
    ranked = sorted(explanation["tokens"], key=lambda t: -t["attribution"])[:top]
    parts = ", ".join(f"{t['token']} {t['attribution']:+.2f}" for t in ranked) or "-"
    return f"why {explanation['intent']}: {parts}  ({explanation['latency_ms']:.0f} ms, occlusion)"
