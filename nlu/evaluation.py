"""``kefu test nlu``: Rasa's ``results/`` layout for intents, entities, sentiment and response selection.

Files written (as ``rasa test nlu`` writes them):
- ``intent_report.json``: per intent ``precision``, ``recall``, ``f1-score``, ``support``,
  ``confused_with``; plus ``accuracy``, ``macro avg``, ``weighted avg``;
- ``intent_errors.json`` (and ``intent_successes.json`` with ``--successes``);
- ``intent_confusion_matrix.png`` and ``intent_histogram.png``;
- ``<Extractor>_report.json`` and ``<Extractor>_errors.json`` per entity extractor (token-level,
  labels are entity names, not BILOU tags); ``<Extractor>_role_group_report.json`` when the data
  annotates roles or groups;
- ``sentiment_report.json``: the sentiment head and the VADER baseline side by side;
- ``response_selection_report.json`` when retrieval intents exist.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.parse_result import ParseResult
from bot.training_data import NLUExample
from nlu.constants import RETRIEVAL_SEPARATOR
from nlu.lexicon import VaderBaseline, collapse
from nlu.sentiment_data import normalise_label
from nlu.whitespace_tokenizer import whitespace_tokens

logger = logging.getLogger(__name__)

NO_ENTITY = "no_entity"


# ===================================================================== metrics
def classification_report(gold: Sequence[str], pred: Sequence[str], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Rasa's report dict (scikit-learn's ``output_dict`` shape) plus ``confused_with`` per label."""
    from sklearn.metrics import classification_report as sk_report

    labels = sorted((set(gold) | set(pred)) - set(exclude))
    if not labels:
        return {}
    report: dict[str, Any] = sk_report(gold, pred, labels=labels, output_dict=True, zero_division=0)
    confusions: dict[str, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        if g != p:
            confusions[g][p] += 1
    for label in labels:
        if label in report:
            report[label]["confused_with"] = dict(confusions[label].most_common(2))
    if "accuracy" not in report:
        # scikit-learn reports "micro avg" instead when labels leave some classes out
        kept = [(g, p) for g, p in zip(gold, pred, strict=True) if g in labels]
        report["accuracy"] = sum(g == p for g, p in kept) / max(len(kept), 1)
    return report


# ===================================================================== plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(gold: Sequence[str], pred: Sequence[str], path: Path, title: str = "Intent Confusion matrix") -> None:
    """A confusion matrix image with one row per gold label."""
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    labels = sorted(set(gold) | set(pred))
    matrix = confusion_matrix(gold, pred, labels=labels)
    size = max(6.0, 0.35 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, interpolation="nearest", cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7 if len(labels) > 30 else 9)
    ax.set_yticks(range(len(labels)), labels, fontsize=7 if len(labels) > 30 else 9)
    if len(labels) <= 40:
        cutoff = matrix.max() / 2 if matrix.size else 0
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > cutoff else "black")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histogram(hits: Sequence[float], misses: Sequence[float], path: Path, title: str = "Intent Prediction Confidence Distribution") -> None:
    """Confidence histogram of correct (hits) and wrong (misses) predictions, as Rasa draws it."""
    plt = _plt()
    bins = [i / 20 for i in range(21)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 5), sharey=True)
    left.hist(hits, bins=bins, orientation="horizontal", color="#009292")
    left.set_title(f"Correct predictions ({len(hits)})")
    left.invert_xaxis()
    left.set_ylabel("Confidence")
    right.hist(misses, bins=bins, orientation="horizontal", color="#ff6db6")
    right.set_title(f"Wrong predictions ({len(misses)})")
    for ax in (left, right):
        ax.set_xlabel("Number of samples")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ===================================================================== intents
@dataclass
class EvaluationResult:
    """Summary figures of one evaluation (the full reports are on disk)."""

    intent_accuracy: float = 0.0
    intent_macro_f1: float = 0.0
    intent_weighted_f1: float = 0.0
    entity_f1: dict[str, float] = field(default_factory=dict)
    sentiment_macro_f1: float | None = None
    vader_macro_f1_3class: float | None = None
    examples: int = 0
    files: list[str] = field(default_factory=list)


def _write(path: Path, payload: Any, files: list[str]) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    files.append(str(path))


def evaluate_intents(
    examples: Sequence[NLUExample], results: Sequence[ParseResult], out: Path, successes: bool, files: list[str]
) -> dict[str, Any]:
    gold = [e.base_intent for e in examples]
    pred = [str(r["intent"]["name"]) for r in results]
    report = classification_report(gold, pred)
    _write(out / "intent_report.json", report, files)
    rows = [
        {
            "text": e.text,
            "intent": e.base_intent,
            "intent_prediction": {"name": r["intent"]["name"], "confidence": r["intent"]["confidence"]},
        }
        for e, r in zip(examples, results, strict=True)
    ]
    _write(out / "intent_errors.json", [row for row in rows if row["intent"] != row["intent_prediction"]["name"]], files)
    if successes:
        _write(out / "intent_successes.json", [row for row in rows if row["intent"] == row["intent_prediction"]["name"]], files)
    plot_confusion_matrix(gold, pred, out / "intent_confusion_matrix.png")
    files.append(str(out / "intent_confusion_matrix.png"))
    hits = [r["intent"]["confidence"] for g, r in zip(gold, results, strict=True) if g == r["intent"]["name"]]
    misses = [r["intent"]["confidence"] for g, r in zip(gold, results, strict=True) if g != r["intent"]["name"]]
    plot_histogram(hits, misses, out / "intent_histogram.png")
    files.append(str(out / "intent_histogram.png"))
    return report


def evaluate_response_selection(
    examples: Sequence[NLUExample], results: Sequence[ParseResult], out: Path, files: list[str]
) -> dict[str, Any] | None:
    pairs = [(e, r) for e, r in zip(examples, results, strict=True) if RETRIEVAL_SEPARATOR in e.intent]
    if not pairs:
        return None
    gold, pred = [], []
    errors = []
    for example, result in pairs:
        selector = (result.get("response_selector") or {}).get(example.base_intent) or {}
        key = (selector.get("response") or {}).get("intent_response_key") or str(result["intent"]["name"])
        if result["intent"]["name"] != example.base_intent:
            key = str(result["intent"]["name"])
        gold.append(example.intent)
        pred.append(key)
        if key != example.intent:
            errors.append({"text": example.text, "intent_response_key_target": example.intent, "intent_response_key_prediction": key})
    report = classification_report(gold, pred)
    _write(out / "response_selection_report.json", report, files)
    _write(out / "response_selection_errors.json", errors, files)
    return report


# ===================================================================== entities
def _token_labels(text: str, entities: Sequence[dict[str, Any]], key: str = "entity") -> list[str]:
    """One label per whitespace token: the entity (or ``entity.role`` / ``entity#group`` labels) covering it."""
    labels = []
    for start, end in whitespace_tokens(text):
        label = NO_ENTITY
        for entity in entities:
            if entity["start"] < end and entity["end"] > start:
                label = _label(entity, key)
                break
        labels.append(label)
    return labels


def _label(entity: dict[str, Any], key: str) -> str:
    if key == "entity":
        return str(entity["entity"])
    suffix = []
    if entity.get("role"):
        suffix.append(f"role={entity['role']}")
    if entity.get("group") is not None:
        suffix.append(f"group={entity['group']}")
    return str(entity["entity"]) + (f" ({', '.join(suffix)})" if suffix else "")


def evaluate_entities(
    examples: Sequence[NLUExample], results: Sequence[ParseResult], out: Path, files: list[str]
) -> dict[str, float]:
    """Token-level entity reports per extractor; returns each extractor's weighted F1."""
    extractors = sorted({str(e.get("extractor")) for r in results for e in r["entities"]})
    gold_spans = [
        [{"entity": s.entity, "start": s.start, "end": s.end, "role": s.role, "group": s.group} for s in e.entities]
        for e in examples
    ]
    has_entities = any(gold_spans)
    has_roles = any(s.get("role") or s.get("group") is not None for spans in gold_spans for s in spans)
    if not has_entities and not extractors:
        return {}
    scores: dict[str, float] = {}
    for extractor in extractors or ["KefuTransformerClassifier"]:
        for key, suffix in (("entity", "report"), ("role_group", "role_group_report")):
            if key == "role_group" and not has_roles:
                continue
            gold: list[str] = []
            pred: list[str] = []
            errors = []
            for example, spans, result in zip(examples, gold_spans, results, strict=True):
                predicted = [e for e in result["entities"] if e.get("extractor") == extractor]
                g = _token_labels(example.text, spans, key)
                p = _token_labels(example.text, predicted, key)
                gold += g
                pred += p
                if g != p and key == "entity":
                    errors.append({"text": example.text, "entities": spans, "predicted_entities": predicted})
            report = classification_report(gold, pred, exclude=[NO_ENTITY])
            _write(out / f"{extractor}_{suffix}.json", report, files)
            if key == "entity":
                _write(out / f"{extractor}_errors.json", errors, files)
                scores[extractor] = float(report.get("weighted avg", {}).get("f1-score", 0.0)) if report else 0.0
    return scores


# ===================================================================== sentiment
def evaluate_sentiment(
    examples: Sequence[NLUExample], results: Sequence[ParseResult], out: Path, files: list[str]
) -> dict[str, Any]:
    """Sentiment head vs VADER on the examples that carry ``metadata: {sentiment: ...}``."""
    labelled = [(normalise_label(e.sentiment), e, r) for e, r in zip(examples, results, strict=True)]
    labelled = [(y, e, r) for y, e, r in labelled if y is not None]
    predicted = Counter(str((r.get("sentiment") or {}).get("label")) for r in results)
    payload: dict[str, Any] = {"examples": len(results), "predicted_distribution": dict(predicted)}
    if not labelled:
        payload["note"] = "no test example has metadata: {sentiment: ...}; only the predicted distribution is reported"
    else:
        texts = [e.text for _, e, _ in labelled]
        gold = [y for y, _, _ in labelled]
        pred = [str((r.get("sentiment") or {}).get("label")) for _, _, r in labelled]
        vader = VaderBaseline().predict(texts)
        payload.update(sentiment_comparison(gold, pred, vader))
    _write(out / "sentiment_report.json", payload, files)
    return payload


def sentiment_comparison(gold: Sequence[str], pred: Sequence[str], vader: Sequence[str]) -> dict[str, Any]:
    """The head's 5-class report, and the head vs VADER on three classes (angry/anxious → negative)."""
    gold3 = [collapse(y) for y in gold]
    pred3 = [collapse(y) for y in pred]
    head5 = classification_report(gold, pred)
    head3 = classification_report(gold3, pred3)
    vader3 = classification_report(gold3, list(vader))
    return {
        "labelled_examples": len(gold),
        "model": head5,
        "model_3class": head3,
        "vader_3class": vader3,
        "macro_f1": head5.get("macro avg", {}).get("f1-score"),
        "macro_f1_3class": head3.get("macro avg", {}).get("f1-score"),
        "vader_macro_f1_3class": vader3.get("macro avg", {}).get("f1-score"),
    }


# ===================================================================== all together
def evaluate(
    examples: Sequence[NLUExample], results: Sequence[ParseResult], out: str | Path, successes: bool = False
) -> EvaluationResult:
    """Write every report for ``results`` (the pipeline's output for ``examples``) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    summary = EvaluationResult(examples=len(examples))
    report = evaluate_intents(examples, results, out, successes, files)
    summary.intent_accuracy = float(report.get("accuracy", 0.0))
    summary.intent_macro_f1 = float(report.get("macro avg", {}).get("f1-score", 0.0))
    summary.intent_weighted_f1 = float(report.get("weighted avg", {}).get("f1-score", 0.0))
    evaluate_response_selection(examples, results, out, files)
    summary.entity_f1 = evaluate_entities(examples, results, out, files)
    sentiment = evaluate_sentiment(examples, results, out, files)
    summary.sentiment_macro_f1 = sentiment.get("macro_f1")
    summary.vader_macro_f1_3class = sentiment.get("vader_macro_f1_3class")
    summary.files = files
    return summary
