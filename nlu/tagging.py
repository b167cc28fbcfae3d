"""BIO tagging of entities (with roles and groups) over words, and back to character spans.

A *word* is what BERT's pre-tokenizer yields (split on spaces and punctuation); it may hold
several wordpieces. The tag of a word sits on its first wordpiece; the other wordpieces, the
special tokens and the padding are ignored in the loss (label ``IGNORE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.parse_result import EntityPrediction
from bot.training_data import EntitySpan

IGNORE = -100
OUTSIDE = "O"


@dataclass(frozen=True)
class Word:
    """One word: its first and last wordpiece index and its character span."""

    first: int
    last: int
    start: int
    end: int


def words_of(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]) -> list[Word]:
    """Group wordpieces into words (special tokens and padding belong to none)."""
    words: list[Word] = []
    current: int | None = None
    for index, wid in enumerate(word_ids):
        if wid is None:
            current = None
            continue
        start, end = offsets[index]
        if wid == current and words:
            prev = words[-1]
            words[-1] = Word(prev.first, index, prev.start, max(prev.end, end))
        else:
            words.append(Word(index, index, start, end))
            current = wid
    return words


def entity_tag_names(entities: Sequence[str]) -> list[str]:
    """``["O", "B-a", "I-a", "B-b", "I-b", ...]`` for the sorted entity names."""
    names = [OUTSIDE]
    for entity in sorted(set(entities)):
        names += [f"B-{entity}", f"I-{entity}"]
    return names


def encode_tags(
    spans: Sequence[EntitySpan],
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    width: int,
    tag_index: dict[str, int],
    role_index: dict[str, int],
    group_index: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entity, role and group label rows (length ``width``) for one example.

    Entities whose name is not in ``tag_index`` are treated as outside (``O``).
    """
    tags = np.full((width,), IGNORE, dtype=np.int64)
    roles = np.full((width,), IGNORE, dtype=np.int64)
    groups = np.full((width,), IGNORE, dtype=np.int64)
    usable = [s for s in spans if f"B-{s.entity}" in tag_index]
    for word in words_of(offsets, word_ids):
        span = next((s for s in usable if word.start < s.end and word.end > s.start), None)
        if span is None:
            tags[word.first] = tag_index[OUTSIDE]
            continue
        begins = word.start <= span.start
        tags[word.first] = tag_index[("B-" if begins else "I-") + span.entity]
        roles[word.first] = role_index.get(span.role or OUTSIDE, 0)
        groups[word.first] = group_index.get(str(span.group) if span.group is not None else OUTSIDE, 0)
    return tags, roles, groups


def decode_entities(
    text: str,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    tag_probs: np.ndarray,
    role_probs: np.ndarray,
    group_probs: np.ndarray,
    tag_names: Sequence[str],
    role_names: Sequence[str],
    group_names: Sequence[str],
    extractor: str,
) -> list[EntityPrediction]:
    """Turn per-wordpiece probabilities of one text into Rasa entity dicts."""
    if len(tag_names) <= 1:
        return []
    found: list[tuple[str, list[Word], list[float]]] = []
    for word in words_of(offsets, word_ids):
        probs = tag_probs[word.first]
        best = int(probs.argmax())
        name = tag_names[best]
        if name == OUTSIDE:
            continue
        prefix, entity = name.split("-", 1)
        last = found[-1] if found else None
        # a word glued to the previous one ("#" + "A12345") cannot start a new entity of the same type
        continues = (
            last is not None
            and last[0] == entity
            and _adjacent(text, last[1][-1], word)
            and (prefix == "I" or last[1][-1].end == word.start)
        )
        if continues and last is not None:
            last[1].append(word)
            last[2].append(float(probs[best]))
        else:
            found.append((entity, [word], [float(probs[best])]))
    out: list[EntityPrediction] = []
    for entity, words, confidences in found:
        start, end = _trim(text, words[0].start, words[-1].end)
        if start >= end:
            continue
        item: EntityPrediction = {
            "entity": entity,
            "start": start,
            "end": end,
            "value": text[start:end],
            "confidence_entity": round(sum(confidences) / len(confidences), 6),
            "extractor": extractor,
        }
        rows = [w.first for w in words]
        _attach(item, "role", role_probs[rows].mean(0), role_names)
        _attach(item, "group", group_probs[rows].mean(0), group_names)
        out.append(item)
    return out


# sentence punctuation a word can carry ("phone." "A12345," "「耳机」"): never part of an entity's value
_TRAILING = ".,!?;:…，。！？；：、)]}\"'”’」』）"
_LEADING = "([{\"'“‘「『（"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    while start < end and text[start] in _LEADING:
        start += 1
    return start, end


def _adjacent(text: str, previous: Word, word: Word) -> bool:
    """Two words belong to one entity only if just spaces/punctuation-free gaps lie between them."""
    gap = text[previous.end : word.start]
    return len(gap) <= 1 or not gap.strip()


def _attach(item: EntityPrediction, key: str, probs: np.ndarray, names: Sequence[str]) -> None:
    if len(names) <= 1:
        return
    best = int(probs.argmax())
    if names[best] == OUTSIDE:
        return
    item[key] = names[best]  # type: ignore[literal-required]
    item[f"confidence_{key}"] = round(float(probs[best]), 6)  # type: ignore[literal-required]
