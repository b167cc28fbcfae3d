"""Fitting a mood head on fixed features when some labels are coarse.

A review labelled only *negative*, or a tweet labelled negative/neutral/positive, does not say whether
the writer was angry, anxious or just unhappy. Such a row allows several moods, and the head is trained
to put its probability on any of them (minus the log of their summed probability), so coarse corpora can
teach valence without teaching that every negative text is plain ``negative``. Used by the mood-adapter
recipe (``scripts/train_mood_adapter.py --refit-head``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nlu.constants import SENTIMENT_LABELS, SENTIMENT_NEGATIVE_LABELS

COARSE_VIEWS = ("three_class", "polarity")


def allowed_moods(labels: list[str], view: str) -> np.ndarray:
    """``(rows, moods)`` booleans: the moods each label allows (a coarse ``negative`` allows every negative mood)."""
    allowed = np.zeros((len(labels), len(SENTIMENT_LABELS)), dtype=bool)
    coarse = view in COARSE_VIEWS
    for row, label in enumerate(labels):
        for mood in SENTIMENT_NEGATIVE_LABELS if coarse and label == "negative" else (label,):
            allowed[row, SENTIMENT_LABELS.index(mood)] = True
    return allowed


@dataclass
class SoftmaxHead:
    """A linear mood head: ``weight`` ``(moods, features)`` and ``bias`` ``(moods,)``, as ``nn.Linear`` stores them."""

    weight: np.ndarray
    bias: np.ndarray

    def probs(self, features: np.ndarray) -> np.ndarray:
        """Mood probabilities, one row per feature row."""
        return torch.softmax(torch.from_numpy(features @ self.weight.T + self.bias), dim=1).numpy()


def fit_softmax_head(x: np.ndarray, allowed: np.ndarray, c: float) -> SoftmaxHead:
    """Multinomial logistic regression where a row may allow several labels (its loss is minus the log of
    their summed probability), with scikit-learn's L2 penalty ``||W||^2 / (2 C)``; full-batch L-BFGS."""
    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    mask = torch.from_numpy(allowed)
    weight = torch.zeros(x.shape[1], allowed.shape[1], requires_grad=True)
    bias = torch.zeros(allowed.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=600, history_size=20, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-6, tolerance_change=1e-9)
    penalty = 1.0 / (2.0 * c * len(x))

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        log_probs = torch.log_softmax(features @ weight + bias, dim=1)
        loss = -torch.logsumexp(log_probs.masked_fill(~mask, float("-inf")), dim=1).mean() + penalty * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return SoftmaxHead(weight.detach().numpy().T.copy(), bias.detach().numpy().copy())
