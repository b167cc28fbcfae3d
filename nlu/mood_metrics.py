"""Mood scores: per-mood precision/recall/F1, macro-F1, and the coarser views benchmarks report.

- 5 moods: Kefu's labels as they are;
- 3-class sentiment (TweetEval's negative/neutral/positive): angry and anxious count as negative,
  and a probability vector is collapsed by summing those three;
- polarity (review sets labelled only positive/negative): positive against the negative moods, neutral
  left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlu.constants import SENTIMENT_LABELS, SENTIMENT_NEGATIVE_LABELS

THREE_CLASSES = ("negative", "neutral", "positive")


def per_label_scores(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{label: {precision, recall, f1, support}}`` (0 where a ratio has no denominator)."""
    out: dict[str, dict[str, float]] = {}
    gold_arr, pred_arr = np.asarray(gold), np.asarray(predicted)
    for label in labels:
        tp = int(np.sum((gold_arr == label) & (pred_arr == label)))
        fp = int(np.sum((gold_arr != label) & (pred_arr == label)))
        fn = int(np.sum((gold_arr == label) & (pred_arr != label)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean F1 over the ``labels`` that occur in ``gold``."""
    scores = per_label_scores(gold, predicted, labels)
    present = [s["f1"] for s in scores.values() if s["support"]]
    return float(np.mean(present)) if present else 0.0


def three_class(probs: np.ndarray, labels: Sequence[str] = SENTIMENT_LABELS) -> list[str]:
    """negative / neutral / positive from 5-mood probabilities (the negative moods summed)."""
    index = {name: i for i, name in enumerate(labels)}
    negative = probs[:, [index[n] for n in SENTIMENT_NEGATIVE_LABELS]].sum(axis=1)
    stacked = np.stack([negative, probs[:, index["neutral"]], probs[:, index["positive"]]], axis=1)
    return [THREE_CLASSES[i] for i in stacked.argmax(axis=1)]


def polarity(probs: np.ndarray, labels: Sequence[str] = SENTIMENT_LABELS) -> list[str]:
    """positive / negative from 5-mood probabilities (neutral ignored)."""
    index = {name: i for i, name in enumerate(labels)}
    negative = probs[:, [index[n] for n in SENTIMENT_NEGATIVE_LABELS]].sum(axis=1)
    return ["positive" if p >= n else "negative" for p, n in zip(probs[:, index["positive"]], negative, strict=True)]


def collapse_gold(labels: Sequence[str]) -> list[str]:
    """Gold moods as 3-class sentiment."""
    return ["negative" if y in SENTIMENT_NEGATIVE_LABELS else y for y in labels]


def mood_report(gold: Sequence[str], probs: np.ndarray, view: str = "moods") -> dict:
    """Scores of ``probs`` against ``gold`` under one view: ``moods``, ``three_class`` or ``polarity``."""
    if view == "moods":
        predicted = [SENTIMENT_LABELS[i] for i in probs.argmax(axis=1)]
        labels: Sequence[str] = SENTIMENT_LABELS
    elif view == "three_class":
        predicted, gold, labels = three_class(probs), collapse_gold(gold), THREE_CLASSES
    elif view == "polarity":
        predicted, gold, labels = polarity(probs), collapse_gold(gold), ("negative", "positive")
    else:
        raise ValueError(f"unknown view {view!r}")
    accuracy = float(np.mean(np.asarray(gold) == np.asarray(predicted))) if len(gold) else 0.0
    return {
        "view": view, "examples": len(gold), "accuracy": accuracy, "macro_f1": macro_f1(gold, predicted, labels),
        "per_label": per_label_scores(gold, predicted, labels),
    }
