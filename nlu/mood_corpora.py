"""The real labelled corpora behind Kefu's moods, split the same way wherever they are read.

Read in place from ``../shared/data`` (research use; never copied into the repo) by the mood-adapter
recipe (``scripts/train_mood_adapter.py``) and the NLU benchmark (``benchmarks/nlu_bench.py``); a
project's ``kefu train`` never needs them. Every split is seeded, so the recipe's training rows and the
benchmark's evaluation rows never overlap.
"""

from __future__ import annotations

import random
from pathlib import Path

from nlu.constants import SENTIMENT_CORPUS
from nlu.sentiment_data import load_corpus, load_ewect, load_goemotions, load_tweeteval, load_zh_shopping
from nlu.splits import stratified_split

Rows = list[tuple[str, str]]
ZH_SHOPPING = ("zh_online_shopping_10_cats", "online_shopping_10_cats.csv")
ZH_HELD_OUT = 0.2  # share of online_shopping_10_cats never trained on
SHOP_HELD_OUT = 0.1  # share of Kefu's own shop corpus never trained on
SELECTION = 0.05  # share of every training source held out to choose the epoch
ADAPTER_SEED = 0  # the seed the shipped adapter's recipe split the corpora with (benchmarks evaluate the same split)
TWEET_SENTIMENT_HELD_OUT = 0.5  # share of TweetEval sentiment validation never trained on (the head stage
# learns from the other half: the only tweets labelled negative/neutral/positive that ../shared holds)


def sample(rows: list, n: int | None, seed: int) -> list:
    """At most ``n`` rows, drawn without replacement (seeded)."""
    if n is None or len(rows) <= n:
        return rows
    return random.Random(seed).sample(rows, n)


def _zh_shopping(shared: Path, seed: int) -> tuple[Rows, Rows]:
    rows = load_zh_shopping(shared.joinpath(*ZH_SHOPPING))
    train_idx, test_idx = stratified_split([y for _, y in rows], ZH_HELD_OUT, seed)
    return [rows[i] for i in train_idx], [rows[i] for i in test_idx]


def _shop(seed: int) -> tuple[Rows, Rows]:
    rows = load_corpus(SENTIMENT_CORPUS)
    train_idx, test_idx = stratified_split([y for _, y in rows], SHOP_HELD_OUT, seed)
    return [rows[i] for i in train_idx], [rows[i] for i in test_idx]


def tweet_sentiment(shared: Path, seed: int = 0) -> tuple[Rows, Rows]:
    """TweetEval sentiment validation, split in two (stratified, seeded): ``(trained, held_out)``. Labels are
    3-class (``negative`` means any negative mood)."""
    rows = load_tweeteval(shared / "tweeteval", ("val",), ("sentiment",))
    keep, held = stratified_split([y for _, y in rows], TWEET_SENTIMENT_HELD_OUT, seed)
    return [rows[i] for i in keep], [rows[i] for i in held]


def head_sets(shared: Path, seed: int = 0, zh_train: int | None = 12000
              ) -> tuple[dict[str, tuple[Rows, str]], dict[str, tuple[Rows, str]]]:
    """The mood head stage's ``(train, selection)`` rows per source, each with the view its labels are in
    (``moods``; ``polarity`` / ``three_class`` where ``negative`` means any negative mood): every row of
    :func:`training_sets` (no per-source cap) plus the trained half of TweetEval sentiment validation."""
    train, select = training_sets(shared, seed, None, zh_train)
    views = {name: "polarity" if name == "zh_shopping" else "moods" for name in train}
    tweets = tweet_sentiment(shared, seed)[0]
    keep, held = stratified_split([y for _, y in tweets], SELECTION * 2, seed)
    train["tweeteval_sentiment"], select["tweeteval_sentiment"] = [tweets[i] for i in keep], [tweets[i] for i in held]
    views["tweeteval_sentiment"] = "three_class"
    return ({k: (v, views[k]) for k, v in train.items()}, {k: (v, views[k]) for k, v in select.items()})


def training_sets(shared: Path, seed: int = 0, per_source: int | None = 10000, zh_train: int | None = 6000
                  ) -> tuple[dict[str, Rows], dict[str, Rows]]:
    """``(train, selection)`` rows per source: GoEmotions train, TweetEval emotion train, EWECT
    virus_train, online_shopping (the training share) and the shop corpus (its training share)."""
    sources = {
        "goemotions": sample(load_goemotions(shared / "goemotions", "train"), per_source, seed),
        "tweeteval_emotion": sample(load_tweeteval(shared / "tweeteval", ("train",), ("emotion",)), per_source, seed),
        "ewect_virus": sample(load_ewect(shared / "zh_smp2020_ewect" / "virus_train.txt"), per_source, seed),
        "zh_shopping": sample(_zh_shopping(shared, seed)[0], zh_train, seed),
        "shop_corpus": _shop(seed)[0],
    }
    train, select = {}, {}
    for name, rows in sources.items():
        keep, held = stratified_split([y for _, y in rows], SELECTION, seed)
        train[name], select[name] = [rows[i] for i in keep], [rows[i] for i in held]
    return train, select


def evaluation_sets(shared: Path, seed: int = 0, zh_eval: int | None = 3000) -> dict[str, tuple[Rows, str]]:
    """Rows never trained or tuned on, each with the view it is scored in (``moods``, ``three_class``,
    ``polarity``): GoEmotions dev, the held-out half of TweetEval sentiment validation, TweetEval emotion
    validation, EWECT usual_eval +
    virus_eval, the held-out online_shopping reviews and the held-out shop corpus."""
    ewect = load_ewect(shared / "zh_smp2020_ewect" / "usual_eval_labeled.txt")
    ewect += load_ewect(shared / "zh_smp2020_ewect" / "virus_eval_labeled.txt")
    return {
        "goemotions_dev": (load_goemotions(shared / "goemotions", "dev"), "moods"),
        "tweeteval_sentiment_val_heldout": (tweet_sentiment(shared, seed)[1], "three_class"),
        "tweeteval_emotion_val": (load_tweeteval(shared / "tweeteval", ("val",), ("emotion",)), "moods"),
        "ewect_eval": (ewect, "moods"),
        "zh_shopping_heldout": (sample(_zh_shopping(shared, seed)[1], zh_eval, seed), "polarity"),
        "shop_corpus_heldout": (_shop(seed)[1], "moods"),
    }
