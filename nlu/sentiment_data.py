"""Sentiment/emotion training data: Kefu's built-in corpus, user labels, optional TweetEval.

Labels are Kefu's five: ``positive``, ``neutral``, ``negative``, ``angry``, ``anxious``.
- the built-in corpus (``nlu/data/sentiment_corpus.csv``, written for Kefu, Apache-2.0) makes the
  sentiment head work on any project with no labels of its own;
- a user labels an example with Rasa's ``metadata: {sentiment: angry}``;
- when a TweetEval folder is given, its emotion tweets (anger → angry, joy/optimism → positive,
  sadness → negative) and 3-class sentiment tweets are added.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path

from bot.training_data import NLUExample
from nlu.constants import SENTIMENT_CORPUS, SENTIMENT_LABELS

logger = logging.getLogger(__name__)

LABEL_ALIASES = {
    "pos": "positive",
    "happy": "positive",
    "joy": "positive",
    "optimism": "positive",
    "neu": "neutral",
    "none": "neutral",
    "neg": "negative",
    "sad": "negative",
    "sadness": "negative",
    "anger": "angry",
    "frustrated": "angry",
    "anxiety": "anxious",
    "fear": "anxious",
    "worried": "anxious",
}

TWEETEVAL_EMOTION = {"anger": "angry", "joy": "positive", "optimism": "positive", "sadness": "negative"}


def normalise_label(label: object) -> str | None:
    """Kefu's name for a sentiment label (``pos`` → ``positive``), or ``None`` if it is not one."""
    if label is None:
        return None
    name = str(label).strip().lower()
    name = LABEL_ALIASES.get(name, name)
    return name if name in SENTIMENT_LABELS else None


def load_corpus(path: str | Path = SENTIMENT_CORPUS) -> list[tuple[str, str]]:
    """Rows ``(text, label)`` of a ``text,label`` CSV (rows with unknown labels are skipped with a warning)."""
    path = Path(path)
    if not path.is_file():
        logger.warning("sentiment corpus %s is missing; the sentiment head will only see user labels", path)
        return []
    rows: list[tuple[str, str]] = []
    skipped = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            label = normalise_label(record.get("label"))
            text = (record.get("text") or "").strip()
            if label is None or not text:
                skipped += 1
                continue
            rows.append((text, label))
    if skipped:
        logger.warning("%s: skipped %d rows without a text or with an unknown label", path, skipped)
    return rows


def user_labels(examples: Iterable[NLUExample]) -> list[tuple[str, str]]:
    """``(text, label)`` for every example whose ``metadata`` holds a known ``sentiment``."""
    out: list[tuple[str, str]] = []
    unknown: set[str] = set()
    for example in examples:
        raw = example.sentiment
        if raw is None:
            continue
        label = normalise_label(raw)
        if label is None:
            unknown.add(raw)
            continue
        out.append((example.text, label))
    if unknown:
        logger.warning(
            "ignored sentiment labels %s (Kefu's labels are %s)", sorted(unknown), ", ".join(SENTIMENT_LABELS)
        )
    return out


def _read_split(folder: Path, split: str, mapping: dict[int, str]) -> list[tuple[str, str]]:
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    return [(t.strip(), mapping[int(y)]) for t, y in zip(texts, labels, strict=False) if t.strip()]


def _mapping(folder: Path, rename: dict[str, str] | None = None) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in (folder / "mapping.txt").read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            index, name = line.split("\t", 1)
            out[int(index)] = (rename or {}).get(name.strip(), name.strip())
    return out


def load_tweeteval(
    root: str | Path, splits: Iterable[str] = ("train",), tasks: Iterable[str] = ("emotion", "sentiment")
) -> list[tuple[str, str]]:
    """TweetEval tweets under Kefu's labels.

    :param root: the ``tweeteval`` folder (with ``emotion/`` and/or ``sentiment/``)
    :param splits: which files to read (``train``, ``val``, ``test``); a missing file is skipped
    :param tasks: ``emotion`` (anger/joy/optimism/sadness) and/or ``sentiment`` (negative/neutral/positive)
    """
    root = Path(root)
    rows: list[tuple[str, str]] = []
    renames = {"emotion": TWEETEVAL_EMOTION, "sentiment": None}
    for task in tasks:
        rename = renames[task]
        folder = root / task
        if not (folder / "mapping.txt").is_file():
            continue
        mapping = _mapping(folder, rename)
        for split in splits:
            if (folder / f"{split}_text.txt").is_file():
                rows.extend(_read_split(folder, split, mapping))
    return rows


# ---------------------------------------------------------------------------- real corpora (recipes only)
# These corpora live in ../shared/data (research use; never copied into the repo). Only the mood-adapter
# recipe and the benchmarks read them; a project's `kefu train` never needs them.

# GoEmotions' 28 labels onto Kefu's moods. Annoyance counts as anger (a shopper's "this is ridiculous");
# disgust, disapproval and disappointment as negative; curiosity, confusion, surprise, realization and
# desire as neutral (questions and wishes, no valence).
GOEMOTIONS_MOODS = {
    "anger": "angry", "annoyance": "angry",
    "fear": "anxious", "nervousness": "anxious",
    "sadness": "negative", "disappointment": "negative", "disapproval": "negative", "embarrassment": "negative",
    "grief": "negative", "remorse": "negative", "disgust": "negative",
    "admiration": "positive", "amusement": "positive", "approval": "positive", "caring": "positive",
    "excitement": "positive", "gratitude": "positive", "joy": "positive", "love": "positive",
    "optimism": "positive", "pride": "positive", "relief": "positive",
    "neutral": "neutral", "realization": "neutral", "surprise": "neutral", "curiosity": "neutral",
    "confusion": "neutral", "desire": "neutral",
}
MOOD_PRECEDENCE = ("angry", "anxious", "negative", "positive", "neutral")  # a multi-label comment takes the first
EWECT_MOODS = {"angry": "angry", "fear": "anxious", "sad": "negative", "happy": "positive", "neutral": "neutral",
               "surprise": "neutral"}


def goemotions_mood(label_names: Iterable[str]) -> str | None:
    """The mood of a GoEmotions comment from its label names (``None`` for mixed positive and negative)."""
    moods = {GOEMOTIONS_MOODS[name] for name in label_names if name in GOEMOTIONS_MOODS}
    if "positive" in moods and moods & {"angry", "anxious", "negative"}:
        return None
    return next((m for m in MOOD_PRECEDENCE if m in moods), None)


def load_goemotions(root: str | Path, split: str = "train") -> list[tuple[str, str]]:
    """GoEmotions ``train``/``dev`` comments with Kefu moods (``[NAME]``/``[RELIGION]`` placeholders kept)."""
    root = Path(root)
    names = (root / "labels.txt").read_text(encoding="utf-8").split()
    rows: list[tuple[str, str]] = []
    for line in (root / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip():
            continue
        mood = goemotions_mood(names[int(i)] for i in parts[1].split(",") if i.strip().isdigit())
        if mood is not None:
            rows.append((parts[0].strip(), mood))
    return rows


def load_ewect(path: str | Path) -> list[tuple[str, str]]:
    """SMP2020-EWECT Weibo posts (a JSON list of ``{content, label}``) with Kefu moods."""
    import json

    rows = []
    for item in json.loads(Path(path).read_text(encoding="utf-8")):
        text, mood = str(item.get("content") or "").strip(), EWECT_MOODS.get(str(item.get("label")))
        if text and mood:
            rows.append((text, mood))
    return rows


def load_zh_shopping(path: str | Path) -> list[tuple[str, str]]:
    """online_shopping_10_cats reviews (``cat,label,review``; 1 positive, 0 negative)."""
    rows = []
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            text = (record.get("review") or "").strip().lstrip("\ufeff")
            if text and record.get("label") in ("0", "1"):
                rows.append((text, "positive" if record["label"] == "1" else "negative"))
    return rows
