"""The lexicon baseline: VADER's compound score cut into negative / neutral / positive.

Reported next to the sentiment head (``kefu test nlu`` and the benchmark). VADER has no
``angry``/``anxious``, so comparisons are made on three classes, where both collapse to
``negative``.
"""

from __future__ import annotations

from collections.abc import Sequence

from nlu.constants import SENTIMENT_NEGATIVE_LABELS


def collapse(label: str) -> str:
    """Five Kefu labels → three (``angry``/``anxious`` → ``negative``)."""
    return "negative" if label in SENTIMENT_NEGATIVE_LABELS else label


class VaderBaseline:
    """VADER with the usual ±0.05 compound thresholds.

    :param threshold: compound scores within ``±threshold`` are neutral
    """

    def __init__(self, threshold: float = 0.05) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.threshold = threshold
        self._analyzer = SentimentIntensityAnalyzer()

    def predict(self, texts: Sequence[str]) -> list[str]:
        """One of ``negative``/``neutral``/``positive`` per text."""
        out = []
        for text in texts:
            compound = self._analyzer.polarity_scores(text)["compound"]
            if compound >= self.threshold:
                out.append("positive")
            elif compound <= -self.threshold:
                out.append("negative")
            else:
                out.append("neutral")
        return out
