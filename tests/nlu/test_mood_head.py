"""The mood head's fit on coarse labels: a tweet or review labelled only "negative" may be any negative mood."""

from __future__ import annotations

import numpy as np

from nlu.constants import SENTIMENT_LABELS
from nlu.mood_head import allowed_moods, fit_softmax_head


def test_a_coarse_negative_allows_every_negative_mood() -> None:
    allowed = allowed_moods(["negative", "neutral"], "three_class")
    assert [SENTIMENT_LABELS[i] for i in np.flatnonzero(allowed[0])] == ["negative", "angry", "anxious"]
    assert [SENTIMENT_LABELS[i] for i in np.flatnonzero(allowed[1])] == ["neutral"]
    exact = allowed_moods(["negative"], "moods")
    assert [SENTIMENT_LABELS[i] for i in np.flatnonzero(exact[0])] == ["negative"]


def test_coarse_rows_keep_their_fine_mood_and_fine_rows_are_learned() -> None:
    rng = np.random.default_rng(0)
    centres = {mood: rng.normal(0, 3, 16) for mood in SENTIMENT_LABELS}
    x, labels, views = [], [], []
    for mood in SENTIMENT_LABELS:  # every mood with exact labels
        x.append(centres[mood] + rng.normal(0, 1, (60, 16)))
        labels += [mood] * 60
        views += ["moods"] * 60
    coarse = centres["angry"] + rng.normal(0, 1, (200, 16))  # angry texts that only say "negative"
    x.append(coarse)
    labels += ["negative"] * 200
    views += ["three_class"] * 200
    features = np.concatenate(x).astype(np.float32)
    allowed = np.concatenate([allowed_moods([y], v) for y, v in zip(labels, views, strict=True)])
    probs = fit_softmax_head(features, allowed, c=1.0).probs(features)
    predicted = [SENTIMENT_LABELS[i] for i in probs.argmax(axis=1)]
    assert np.mean(np.asarray(predicted[:300]) == np.asarray(labels[:300])) > 0.95
    # the coarse rows are not pulled onto plain "negative": they stay angry, as their features say
    assert np.mean(np.asarray(predicted[300:]) == "angry") > 0.9
