"""The bilingual demo shop and the moods, for ``benchmarks/nlu_bench.py --only demo`` (and its full run).

Demo section: the demo shop's own NLU data, English (``data/nlu.yml``) and Chinese
(``data/nlu_zh.yml``), each split 80/20 per intent (seeded); a model is trained on the two 80 % parts
with the demo's own ``config.yml`` pipeline, and scored per language on the 20 % parts and on
``tests/fixtures/zh_heldout/nlu_zh_heldout.yml`` (Chinese sentences written apart and never trained
on). Side by side: frozen encoder embeddings + logistic regression on the same training rows (the
encoder the demo ships, and all-MiniLM-L6-v2), and single-message latency per language.

Mood section: that trained demo model's moods on real text it never saw (``nlu.mood_corpora``'s
evaluation sets: GoEmotions dev, TweetEval sentiment and emotion validation, EWECT evaluation
files, a held-out part of online_shopping_10_cats, the held-out shop corpus), against VADER (English,
3-class) and frozen all-MiniLM-L6-v2 + logistic regression trained on the mood adapter's training rows.
Frozen e5 + logistic regression on those rows is in ``benchmarks/results/mood_adapter.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.frozen_baseline import frozen_logistic_regression
from benchmarks.nlu_timing import latency
from bot.loaders.training_files import load_nlu_data
from bot.training_data import NLUData, NLUExample
from nlu.constants import SENTIMENT_LABELS
from nlu.lexicon import VaderBaseline, collapse
from nlu.mood_corpora import ADAPTER_SEED, evaluation_sets, training_sets
from nlu.mood_metrics import THREE_CLASSES, mood_report, per_label_scores
from nlu.splits import stratified_split

REPO = Path(__file__).resolve().parents[1]
DEMO_DATA = {"en": REPO / "data" / "nlu.yml", "zh": REPO / "data" / "nlu_zh.yml"}
ZH_FIXTURE = REPO / "tests" / "fixtures" / "zh_heldout" / "nlu_zh_heldout.yml"
MINILM = "all-MiniLM-L6-v2"


def demo_split(seed: int) -> tuple[NLUData, dict[str, list[NLUExample]]]:
    """Training data (80 % of each language, with every synonym, regex and lookup) and the test sets."""
    train = NLUData()
    tests: dict[str, list[NLUExample]] = {}
    for language, path in DEMO_DATA.items():
        data = load_nlu_data(path)
        train_idx, test_idx = stratified_split([e.intent for e in data.examples], 0.2, seed)
        part = NLUData([data.examples[i] for i in train_idx], data.synonyms, data.regexes, data.lookups)
        train.merge(part)
        tests[f"{language}_heldout_20pct"] = [data.examples[i] for i in test_idx]
    if ZH_FIXTURE.is_file():
        tests["zh_written_apart"] = load_nlu_data(ZH_FIXTURE).examples
    return train, tests


def run_demo(args: Any, workdir: Path) -> tuple[dict[str, Any], Path]:
    """Train the demo pipeline on the 80 % parts; per-language accuracy, baselines and latency."""
    from bot.project import load_project
    from nlu.pipeline import NLUPipeline

    project = load_project(root=REPO)
    train, tests = demo_split(args.seed)
    pipeline = NLUPipeline.from_config(project.config.pipeline, project.config.language)
    print(f"demo shop: train {len(train.examples)}, " + ", ".join(f"{k} {len(v)}" for k, v in tests.items()), flush=True)
    started = time.perf_counter()
    pipeline.train(train, seed=args.seed, progress=args.progress)
    training_s = time.perf_counter() - started
    folder = workdir / "demo_model"
    pipeline.save(folder)
    loaded = NLUPipeline.load(folder)
    encoder = loaded.classifier.model_name if loaded.classifier else None
    result: dict[str, Any] = {
        "dataset": "demo shop data/nlu.yml (en) + data/nlu_zh.yml (zh), 80/20 per intent and language",
        "encoder": encoder, "backend": loaded.classifier.backend_name() if loaded.classifier else None,
        "train_examples": len(train.examples), "training_s": round(training_s, 1), "sets": {},
    }
    train_texts, train_labels = [e.text for e in train.examples], [e.intent for e in train.examples]
    all_texts = [e.text for examples in tests.values() for e in examples]
    baselines = {}  # each encoder embeds the training rows once, every test set at once
    for label, model_name in (("frozen_encoder_lr", encoder), ("frozen_minilm_lr", MINILM)):
        predicted_all, _, info = frozen_logistic_regression(model_name, train_texts, train_labels, all_texts)
        baselines[label] = (predicted_all, {k: v for k, v in info.items() if k != "classes"})
    offset = 0
    for name, examples in tests.items():
        texts, gold = [e.text for e in examples], [e.intent for e in examples]
        predicted = [r["intent"]["name"] for r in loaded.parse_batch(texts)]
        entry: dict[str, Any] = {"examples": len(examples),
                                 "accuracy": round(float(np.mean(np.asarray(predicted) == np.asarray(gold))), 4),
                                 "latency": latency(loaded, texts, 200)}
        for label, (predicted_all, info) in baselines.items():
            baseline = predicted_all[offset : offset + len(texts)]
            entry[label] = {"accuracy": round(float(np.mean(np.asarray(baseline) == np.asarray(gold))), 4), **info}
        offset += len(texts)
        result["sets"][name] = entry
        print(f"  {name}: accuracy {entry['accuracy']:.4f} (frozen {encoder} + LR {entry['frozen_encoder_lr']['accuracy']:.4f}, "
              f"frozen MiniLM + LR {entry['frozen_minilm_lr']['accuracy']:.4f}); p50 {entry['latency']['p50_ms']} ms", flush=True)
    return result, folder


def _mood_probs(pipeline: Any, texts: list[str]) -> np.ndarray:
    probs = np.zeros((len(texts), len(SENTIMENT_LABELS)), dtype=np.float64)
    for begin in range(0, len(texts), 256):
        for row, parsed in enumerate(pipeline.parse_batch(texts[begin : begin + 256]), start=begin):
            scores = (parsed.get("sentiment") or {}).get("scores") or {}
            probs[row] = [scores.get(label, 0.0) for label in SENTIMENT_LABELS]
    return probs


def run_moods(args: Any, model_folder: Path, shared: Path) -> dict[str, Any]:
    """The demo model's moods on the evaluation sets, VADER and frozen MiniLM + LR beside it."""
    from nlu.pipeline import NLUPipeline

    pipeline = NLUPipeline.load(model_folder)
    evaluation = evaluation_sets(shared, seed=ADAPTER_SEED)
    train, _ = training_sets(shared, seed=ADAPTER_SEED)
    rows = [r for part in train.values() for r in part]
    if args.quick:
        evaluation = {k: (v[:200], view) for k, (v, view) in evaluation.items()}
        rows = rows[::20]
    vader = VaderBaseline()
    texts_all = [t for rows_, _ in evaluation.values() for t, _ in rows_]
    print(f"moods: frozen MiniLM + LR on {len(rows)} training rows, {len(texts_all)} evaluation texts", flush=True)
    _, minilm_probs, minilm_info = frozen_logistic_regression(MINILM, [t for t, _ in rows], [y for _, y in rows], texts_all)
    order = [SENTIMENT_LABELS.index(c) for c in minilm_info["classes"]]
    minilm_full = np.zeros((len(texts_all), len(SENTIMENT_LABELS)))
    minilm_full[:, order] = minilm_probs
    result: dict[str, Any] = {"frozen_minilm_lr": {k: v for k, v in minilm_info.items() if k != "classes"}, "sets": {}}
    offset = 0
    for name, (eval_rows, view) in evaluation.items():
        texts, gold = [t for t, _ in eval_rows], [y for _, y in eval_rows]
        probs = _mood_probs(pipeline, texts)
        entry = {"view": view, "model": mood_report(gold, probs, view),
                 "frozen_minilm_lr": mood_report(gold, minilm_full[offset : offset + len(texts)], view)}
        offset += len(texts)
        if view == "moods":
            entry["model_three_class"] = mood_report(gold, probs, "three_class")
        if not any("\u4e00" <= ch <= "\u9fff" for t in texts[:50] for ch in t):  # VADER reads English only
            vader_pred = vader.predict(texts)
            gold3 = [collapse(y) for y in gold]
            scores = per_label_scores(gold3, [collapse(y) for y in vader_pred], THREE_CLASSES)
            entry["vader_three_class_macro_f1"] = round(float(np.mean([s["f1"] for s in scores.values() if s["support"]])), 4)
        result["sets"][name] = entry
        m = entry["model"]
        angry = m["per_label"].get("angry", {})
        print(f"  {name} ({view}, n={m['examples']}): macro-F1 {m['macro_f1']:.4f} "
              f"(frozen MiniLM + LR {entry['frozen_minilm_lr']['macro_f1']:.4f}"
              + (f", VADER 3-class {entry['vader_three_class_macro_f1']:.4f}" if "vader_three_class_macro_f1" in entry else "")
              + ")" + (f"; angry P {angry['precision']:.3f} R {angry['recall']:.3f}" if angry else ""), flush=True)
    return result
