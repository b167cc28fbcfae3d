"""Out-of-scope detection: score how close a message is to the trained intents, and reject below a threshold.

Four scores (higher = more in scope), all cheap at parse time:
- ``max_softmax``: the top intent probability (Hendrycks & Gimpel 2017);
- ``energy``: ``T * logsumexp(logits / T)`` (Liu et al. 2020);
- ``centroid``: cosine similarity to the nearest intent centroid of the training embeddings;
- ``mahalanobis``: minus the smallest Mahalanobis distance to an intent mean, shared covariance
  (Podolskiy et al. 2021).
A trained ``out_of_scope`` intent (``oos`` in CLINC150) works on top of any of them: predicting it
rejects the message too. The threshold is set on validation data so that a chosen share of
in-scope messages is kept; ``benchmarks/nlu_bench.py`` measures which score rejects best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DETECTORS = ("max_softmax", "energy", "centroid", "mahalanobis")
DEFAULT_DETECTOR = "max_softmax"


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-9, None)


@dataclass
class OutOfScopeDetector:
    """A fitted out-of-scope score with its rejection threshold.

    :param method: one of :data:`DETECTORS`, or ``none`` (never reject)
    :param threshold: messages scoring below it are rejected (``-inf``: never)
    :param temperature: the energy score's temperature
    :param in_scope_recall: share of in-scope validation messages the threshold keeps
    """

    method: str = DEFAULT_DETECTOR
    threshold: float = float("-inf")
    temperature: float = 1.0
    in_scope_recall: float = 0.98
    centroids: np.ndarray | None = field(default=None, repr=False)  # (classes, hidden), unit length
    means: np.ndarray | None = field(default=None, repr=False)  # (classes, hidden)
    precision: np.ndarray | None = field(default=None, repr=False)  # (hidden, hidden)
    class_mask: np.ndarray | None = field(default=None, repr=False)  # intents the scores consider

    # ----------------------------------------------------------------- fitting
    def fit(self, pooled: np.ndarray, labels: np.ndarray, n_classes: int, exclude: Sequence[int] = ()) -> None:
        """Class centroids, means and the shared precision matrix from training embeddings.

        :param exclude: class indices left out (a trained out-of-scope intent has no centroid)
        """
        pooled = pooled.astype(np.float64)
        unit = _normalise(pooled)
        hidden = pooled.shape[1]
        mask = np.zeros(n_classes, dtype=bool)
        centroids = np.zeros((n_classes, hidden))
        means = np.zeros((n_classes, hidden))
        centred = []
        for c in range(n_classes):
            rows = labels == c
            if c in exclude or not rows.any():
                continue
            mask[c] = True
            centroids[c] = unit[rows].mean(0)
            means[c] = unit[rows].mean(0)
            centred.append(unit[rows] - means[c])
        self.class_mask = mask
        self.centroids = _normalise(centroids).astype(np.float32)
        self.means = means.astype(np.float32)
        if centred:
            stacked = np.concatenate(centred)
            cov = stacked.T @ stacked / max(len(stacked) - 1, 1)
            shrink = 1e-3 * np.trace(cov) / hidden + 1e-6
            self.precision = np.linalg.inv(cov + shrink * np.eye(hidden)).astype(np.float32)

    # ----------------------------------------------------------------- scoring
    def scores(self, logits: np.ndarray, pooled: np.ndarray, method: str | None = None) -> np.ndarray:
        """In-scope score of each row (higher = closer to a trained intent)."""
        method = method or self.method
        if method == "max_softmax":
            return _softmax(logits).max(axis=1)
        if method == "energy":
            t = self.temperature
            z = logits / t
            m = z.max(axis=1, keepdims=True)
            return (t * (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))).ravel()
        if method == "centroid":
            if self.centroids is None or self.class_mask is None:
                raise ValueError("the centroid score needs fit() first")
            sims = _normalise(pooled.astype(np.float32)) @ self.centroids.T
            sims[:, ~self.class_mask] = -np.inf
            return sims.max(axis=1)
        if method == "mahalanobis":
            if self.means is None or self.precision is None or self.class_mask is None:
                raise ValueError("the Mahalanobis score needs fit() first")
            x = _normalise(pooled.astype(np.float32))
            means = self.means[self.class_mask]
            xp = x @ self.precision
            # d^2 = x P x - 2 x P m + m P m, for every class mean m
            d2 = (xp * x).sum(1, keepdims=True) - 2 * xp @ means.T + ((means @ self.precision) * means).sum(1)
            return -d2.min(axis=1)
        if method == "none":
            return np.full(len(logits), np.inf)
        raise ValueError(f"unknown out-of-scope detector {method!r}; choose one of {', '.join(DETECTORS)}, none")

    def calibrate(self, in_scope_scores: np.ndarray, in_scope_recall: float | None = None) -> float:
        """Set the threshold that keeps ``in_scope_recall`` of these in-scope validation scores."""
        if in_scope_recall is not None:
            self.in_scope_recall = in_scope_recall
        if self.method == "none" or len(in_scope_scores) == 0:
            self.threshold = float("-inf")
        else:
            self.threshold = float(np.quantile(in_scope_scores, 1.0 - self.in_scope_recall, method="lower"))
        return self.threshold

    def reject(self, logits: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """True where a message is out of scope (its score is below the threshold)."""
        if self.method == "none" or not np.isfinite(self.threshold):
            return np.zeros(len(logits), dtype=bool)
        return self.scores(logits, pooled) < self.threshold

    # ----------------------------------------------------------------- persistence
    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save (``numpy.savez``)."""
        out: dict[str, np.ndarray] = {}
        for key in ("centroids", "means", "precision", "class_mask"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def params(self) -> dict[str, object]:
        """JSON-able constructor parameters."""
        return {
            "method": self.method,
            "threshold": self.threshold if np.isfinite(self.threshold) else None,
            "temperature": self.temperature,
            "in_scope_recall": self.in_scope_recall,
        }

    @classmethod
    def from_saved(cls, params: dict[str, object], arrays: dict[str, np.ndarray]) -> OutOfScopeDetector:
        threshold = params.get("threshold")
        detector = cls(
            method=str(params.get("method", DEFAULT_DETECTOR)),
            threshold=float("-inf") if threshold is None else float(threshold),  # type: ignore[arg-type]
            temperature=float(params.get("temperature", 1.0)),  # type: ignore[arg-type]
            in_scope_recall=float(params.get("in_scope_recall", 0.98)),  # type: ignore[arg-type]
        )
        for key, value in arrays.items():
            setattr(detector, key, value)
        return detector


def oos_recall_at_accuracy(
    in_scores: np.ndarray,
    in_correct: np.ndarray,
    oos_scores: np.ndarray,
    min_accuracy: float = 0.95,
    in_forced: np.ndarray | None = None,
    oos_forced: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Best out-of-scope recall over thresholds that keep in-scope accuracy ≥ ``min_accuracy``.

    A rejected in-scope message counts as wrong. ``*_forced`` marks messages rejected whatever the
    threshold (predicted as a trained out-of-scope intent).

    :return: ``(oos_recall, in_scope_accuracy, threshold)``; recall 0 if no threshold reaches the accuracy
    """
    in_forced = np.zeros(len(in_scores), bool) if in_forced is None else in_forced
    oos_forced = np.zeros(len(oos_scores), bool) if oos_forced is None else oos_forced
    candidates = np.unique(np.concatenate([in_scores, oos_scores, [-np.inf]]))
    best = (0.0, float(np.mean(in_correct & ~in_forced)), float("-inf"))
    # accuracy falls and recall rises as the threshold grows: scan upwards, keep the last feasible one
    in_sorted = np.sort(in_scores[in_correct & ~in_forced])
    oos_sorted = np.sort(oos_scores[~oos_forced])
    n_in, n_oos = len(in_scores), max(len(oos_scores), 1)
    for th in candidates:
        kept_correct = len(in_sorted) - np.searchsorted(in_sorted, th, side="left")
        accuracy = kept_correct / n_in
        if accuracy < min_accuracy:
            break
        rejected = oos_forced.sum() + np.searchsorted(oos_sorted, th, side="left")
        recall = rejected / n_oos
        if recall >= best[0]:
            best = (float(recall), float(accuracy), float(th))
    return best
