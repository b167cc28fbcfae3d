"""Measure what int8 quantization or ONNX Runtime costs in accuracy, against the fp32 model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.training_data import NLUExample
from nlu.pipeline import NLUPipeline


def backend_delta(folder: str | Path, examples: Sequence[NLUExample], backend: str) -> dict[str, Any]:
    """Intent accuracy of ``backend`` and of fp32 on ``examples``, their difference and their agreement.

    Accuracy here is the transformer's top intent before any fallback, so the number isolates the
    back-end's numerical effect.
    """
    texts = [e.text for e in examples]
    gold = [e.base_intent for e in examples]
    out: dict[str, Any] = {"backend": backend, "examples": len(texts)}
    if not texts:
        out["note"] = "no validation examples to measure on"
        return out
    predictions: dict[str, list[str]] = {}
    for name in ("torch", backend):
        pipeline = NLUPipeline.load(folder, backend=name)
        classifier = pipeline.classifier
        assert classifier is not None
        started = time.perf_counter()
        messages = [{"text": t, "entities": []} for t in texts]
        classifier.process(messages)
        out[f"seconds_{name}"] = round(time.perf_counter() - started, 3)
        predictions[name] = [str(m["intent"]["name"]) for m in messages]
    fp32 = predictions["torch"]
    other = predictions[backend]
    out["accuracy_fp32"] = sum(p == g for p, g in zip(fp32, gold, strict=True)) / len(gold)
    out[f"accuracy_{backend}"] = sum(p == g for p, g in zip(other, gold, strict=True)) / len(gold)
    out["accuracy_delta"] = out[f"accuracy_{backend}"] - out["accuracy_fp32"]
    out["agreement_with_fp32"] = sum(a == b for a, b in zip(fp32, other, strict=True)) / len(gold)
    return out
