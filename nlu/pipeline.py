"""NLUPipeline: build from ``config.yml``'s ``pipeline:``, train, parse, save and load.

Typical use::

    pipeline = NLUPipeline.from_config(config.pipeline, config.language)
    pipeline.train(load_nlu_data("data"), seed=42)
    pipeline.save("models/nlu-20250101-120000")
    result = NLUPipeline.load("models/nlu-20250101-120000").parse("where is my order?")
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.parse_result import ParseResult, empty_parse_result
from bot.training_data import NLUData
from nlu.component import Component, Message
from nlu.constants import MANIFEST_FILE, PIPELINE_FILE
from nlu.fallback_classifier import OOD_FLAG, FallbackClassifier, apply_fallback
from nlu.language import message_language
from nlu.manifest import build_manifest
from nlu.registry import COMPONENTS, log_notes, resolve
from nlu.transformer_classifier import KefuTransformerClassifier

logger = logging.getLogger(__name__)

SelfPipeline = TypeVar("SelfPipeline", bound="NLUPipeline")
RESULT_KEYS = ("text", "intent", "entities", "sentiment", "language", "intent_ranking", "text_tokens", "response_selector")
DEFAULT_FALLBACK_CONFIDENCE = 0.3


class NLUPipeline:
    """An ordered list of NLU components that turns text into Rasa's ``/model/parse`` result.

    :param components: the components (run in stage order: tokenizer, extractors/classifier,
        entity processors, fallback; config order within a stage)
    :param language: the project's language code
    :param config: the ``pipeline:`` list it was built from (kept in the manifest)
    """

    def __init__(self, components: Sequence[Component], language: str = "en", config: list[dict[str, Any]] | None = None) -> None:
        self.components = sorted(components, key=lambda c: c.stage)
        self.language = language
        self.config = config or []
        self.manifest: dict[str, Any] = {}

    @classmethod
    def from_config(cls: type[SelfPipeline], pipeline_config: list[dict[str, Any]] | None, language: str = "en") -> SelfPipeline:
        """Build from ``config.yml``'s ``pipeline:`` list; Rasa names map to Kefu components (one info line each)."""
        resolved = resolve(pipeline_config)
        log_notes(resolved.notes)
        components = [component_cls(**kwargs) for component_cls, kwargs in resolved.components]
        for component in components:
            if isinstance(component, KefuTransformerClassifier):
                component.language = language
        clean = [{k: v for k, v in item.items() if not str(k).startswith("_")} for item in (pipeline_config or [])]
        return cls(components, language, clean)

    # ----------------------------------------------------------------- access
    @property
    def classifier(self) -> KefuTransformerClassifier | None:
        """The transformer component (``None`` if the pipeline has none)."""
        return next((c for c in self.components if isinstance(c, KefuTransformerClassifier)), None)

    @property
    def fallback(self) -> FallbackClassifier | None:
        return next((c for c in self.components if isinstance(c, FallbackClassifier)), None)

    # ----------------------------------------------------------------- training
    def train(
        self: SelfPipeline,
        data: NLUData,
        seed: int = 0,
        progress: bool = True,
        validation_data: NLUData | None = None,
        validation_fraction: float | None = None,
    ) -> SelfPipeline:
        """Train every trainable component on ``data``; returns ``self``.

        :param seed: same seed and data → same model (and the same predictions)
        :param progress: show a progress bar while the transformer trains
        :param validation_data: held-out examples for early stopping (default: a stratified split of ``data``)
        :param validation_fraction: override the transformer's ``validation_fraction``
        """
        started = time.perf_counter()
        for component in self.components:
            if isinstance(component, KefuTransformerClassifier):
                if validation_fraction is not None:
                    component.validation_fraction = validation_fraction
                component.train(data, seed=seed, progress=progress, validation_data=validation_data)
            else:
                component.train(data, seed=seed, progress=progress)
        seconds = time.perf_counter() - started
        classifier = self.classifier
        labels: dict[str, Any] = classifier.labels.to_dict() if classifier and classifier.labels else {}
        extra: dict[str, Any] = {}
        if classifier is not None and classifier.report is not None:
            extra["training"] = {
                "epochs_run": classifier.report.epochs_run,
                "best_epoch": classifier.report.best_epoch,
                "best_validation_score": classifier.report.best_score,
            }
            extra["out_of_scope"] = classifier.detector.params()
            extra["confidence_temperature"] = classifier.temperature
        self.manifest = build_manifest(
            data=data, seed=seed, pipeline_config=self.config, language=self.language,
            labels=labels, training_seconds=seconds, extra=extra,
        )
        return self

    # ----------------------------------------------------------------- parsing
    def parse(self, text: str) -> ParseResult:
        """Rasa's ``/model/parse`` result for one message (plus ``sentiment``)."""
        return self.parse_batch([text])[0]

    def parse_batch(self, texts: Sequence[str]) -> list[ParseResult]:
        """Parse many messages at once (the transformer runs on whole batches)."""
        results: list[ParseResult | None] = [None] * len(texts)
        messages: list[Message] = []
        positions: list[int] = []
        for index, text in enumerate(texts):
            if not text or not text.strip():
                results[index] = empty_parse_result(text or "")
            else:
                message: Message = {"text": text, "entities": []}
                language = message_language(text)
                if language is not None:
                    message["language"] = language
                messages.append(message)
                positions.append(index)
        if messages:
            for component in self.components:
                component.process(messages)
            has_fallback = self.fallback is not None
            for index, message in zip(positions, messages, strict=True):
                if message.get(OOD_FLAG) and not has_fallback:
                    apply_fallback(message, DEFAULT_FALLBACK_CONFIDENCE)
                results[index] = _finish(message)
        return [r for r in results if r is not None]

    # ----------------------------------------------------------------- persistence
    def set_num_threads(self, num_threads: int) -> None:
        """Threads the components that run a network use from now on."""
        for component in self.components:
            setter = getattr(component, "set_num_threads", None)
            if callable(setter):
                setter(num_threads)

    def save(self, folder: str | Path) -> Path:
        """Write the model into ``folder``: ``manifest.json``, ``pipeline.json``, one sub-folder per component."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for index, component in enumerate(self.components):
            sub = f"{index}_{component.name}"
            (folder / sub).mkdir(exist_ok=True)
            component.save(folder / sub)
            entries.append({"name": component.name, "folder": sub, "params": component.params()})
        spec = {"language": self.language, "config": self.config, "components": entries}
        (folder / PIPELINE_FILE).write_text(json.dumps(spec, indent=1, default=str), encoding="utf-8")
        (folder / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=1, default=str), encoding="utf-8")
        return folder

    @classmethod
    def load(cls: type[SelfPipeline], folder: str | Path, backend: str | None = None) -> SelfPipeline:
        """Load a saved model (a new object; nothing is trained).

        :param backend: override how the transformer runs: ``torch``, ``int8``, ``onnx`` or ``onnx-int8``
        """
        folder = Path(folder)
        spec_path = folder / PIPELINE_FILE
        if not spec_path.is_file():
            raise FileNotFoundError(f"{folder} is not a Kefu NLU model (no {PIPELINE_FILE}); train one with 'kefu train nlu'")
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        components: list[Component] = []
        for entry in spec["components"]:
            component_cls = COMPONENTS[entry["name"]]
            component = component_cls.load(folder / entry["folder"], entry.get("params", {}))
            if backend and isinstance(component, KefuTransformerClassifier):
                component.use_backend(backend, folder / entry["folder"])
            components.append(component)
        pipeline = cls(components, spec.get("language", "en"), spec.get("config", []))
        manifest_path = folder / MANIFEST_FILE
        if manifest_path.is_file():
            pipeline.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return pipeline


def _finish(message: Message) -> ParseResult:
    """Order the keys as Rasa does, sort and de-duplicate entities, drop private keys."""
    seen: set[tuple[str, int, int]] = set()
    entities = []
    for entity in sorted(message.get("entities", []), key=lambda e: (e["start"], e["end"])):
        key = (entity["entity"], entity["start"], entity["end"])
        if key in seen:
            continue
        seen.add(key)
        entities.append(entity)
    message["entities"] = entities
    out: dict[str, Any] = {}
    for key in RESULT_KEYS:
        if key in message:
            out[key] = message[key]
    if "intent" not in out:
        out["intent"] = {"name": None, "confidence": 0.0}
        out["intent_ranking"] = []
    return out  # type: ignore[return-value]
