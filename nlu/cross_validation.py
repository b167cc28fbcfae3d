"""``kefu test nlu --cross-validation --folds N``: train N models on stratified folds, report on the held-out folds."""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import Any

from bot.parse_result import ParseResult
from bot.training_data import NLUData, NLUExample
from nlu.evaluation import EvaluationResult, classification_report, evaluate
from nlu.pipeline import NLUPipeline
from nlu.splits import stratified_folds

logger = logging.getLogger(__name__)


def _subset(data: NLUData, examples: list[NLUExample]) -> NLUData:
    return NLUData(examples=examples, synonyms=dict(data.synonyms), regexes=list(data.regexes), lookups=dict(data.lookups))


def cross_validate(
    pipeline_config: list[dict[str, Any]] | None,
    language: str,
    data: NLUData,
    folds: int,
    out: str | Path,
    seed: int = 0,
    successes: bool = False,
    progress: bool = False,
) -> tuple[EvaluationResult, dict[str, Any]]:
    """Train on ``folds - 1`` folds, parse the remaining one, N times; write Rasa's reports over all folds.

    :return: the pooled evaluation and a summary with per-fold accuracy/F1 (mean and standard deviation)
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    examples = list(data.examples)
    parts = stratified_folds([e.intent for e in examples], folds, seed)
    all_examples: list[NLUExample] = []
    all_results: list[ParseResult] = []
    per_fold: list[dict[str, float]] = []
    for number, held in enumerate(parts, start=1):
        held_set = set(held)
        train = [e for i, e in enumerate(examples) if i not in held_set]
        test = [examples[i] for i in held]
        logger.info("cross-validation fold %d/%d: train %d, test %d", number, folds, len(train), len(test))
        pipeline = NLUPipeline.from_config(pipeline_config, language)
        pipeline.train(_subset(data, train), seed=seed, progress=progress)
        results = pipeline.parse_batch([e.text for e in test])
        report = classification_report([e.base_intent for e in test], [str(r["intent"]["name"]) for r in results])
        per_fold.append(
            {
                "fold": number,
                "accuracy": float(report.get("accuracy", 0.0)),
                "macro_f1": float(report.get("macro avg", {}).get("f1-score", 0.0)),
                "weighted_f1": float(report.get("weighted avg", {}).get("f1-score", 0.0)),
            }
        )
        all_examples += test
        all_results += results
    pooled = evaluate(all_examples, all_results, out, successes=successes)
    summary: dict[str, Any] = {"folds": folds, "seed": seed, "per_fold": per_fold}
    for key in ("accuracy", "macro_f1", "weighted_f1"):
        values = [f[key] for f in per_fold]
        summary[key] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
    (out / "cross_validation_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return pooled, summary
