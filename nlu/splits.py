"""Seeded, stratified splits: the validation split for early stopping and the folds of cross-validation."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Sequence


def stratified_split(labels: Sequence[Hashable], fraction: float, seed: int = 0, min_count: int = 3) -> tuple[list[int], list[int]]:
    """Indices ``(train, held_out)``: about ``fraction`` of each label is held out.

    A label with fewer than ``min_count`` examples stays entirely in ``train``; any other label
    keeps at least one example in each part.
    """
    rng = random.Random(seed)
    by_label: dict[Hashable, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    train: list[int] = []
    held: list[int] = []
    for label in sorted(by_label, key=str):
        indices = by_label[label][:]
        rng.shuffle(indices)
        if len(indices) < min_count or fraction <= 0:
            train.extend(indices)
            continue
        k = min(max(1, round(len(indices) * fraction)), len(indices) - 1)
        held.extend(indices[:k])
        train.extend(indices[k:])
    return sorted(train), sorted(held)


def stratified_folds(labels: Sequence[Hashable], folds: int, seed: int = 0) -> list[list[int]]:
    """``folds`` disjoint index lists; each label's examples are dealt round-robin after a seeded shuffle."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    rng = random.Random(seed)
    by_label: dict[Hashable, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    out: list[list[int]] = [[] for _ in range(folds)]
    start = 0
    for label in sorted(by_label, key=str):
        indices = by_label[label][:]
        rng.shuffle(indices)
        for offset, index in enumerate(indices):
            out[(start + offset) % folds].append(index)
        start += len(indices)
    return [sorted(f) for f in out]
