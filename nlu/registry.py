"""Map a ``config.yml`` pipeline (Rasa or Kefu component names) to Kefu components.

Every Rasa component name loads without edits: it becomes its Kefu equivalent, or it is
skipped, and either way one info line says so. Unknown names (custom components) are skipped
with a warning.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from nlu.component import STAGE_TOKENIZER, Component
from nlu.constants import (
    FALLBACK_CLASSIFIER,
    REGEX_EXTRACTOR,
    SYNONYM_MAPPER,
    TRANSFORMER_CLASSIFIER,
    WHITESPACE_TOKENIZER,
)
from nlu.fallback_classifier import FallbackClassifier
from nlu.jieba_tokenizer import JiebaTokenizer
from nlu.regex_extractor import RegexEntityExtractor
from nlu.synonym_mapper import EntitySynonymMapper
from nlu.transformer_classifier import KefuTransformerClassifier
from nlu.whitespace_tokenizer import WhitespaceTokenizer

logger = logging.getLogger(__name__)

COMPONENTS: dict[str, type[Component]] = {
    cls.name: cls
    for cls in (
        WhitespaceTokenizer, JiebaTokenizer, RegexEntityExtractor, EntitySynonymMapper, KefuTransformerClassifier,
        FallbackClassifier,
    )
}

_TRANSFORMER_WHY = "Kefu's transformer classifies intents, sentiment and entities in one network"

# Rasa name -> (Kefu component, reason). Their Rasa hyper-parameters are not carried over.
MAPPED: dict[str, tuple[str, str]] = {
    "SpacyTokenizer": (WHITESPACE_TOKENIZER, "Kefu needs no spaCy model for text_tokens"),
    "MitieTokenizer": (WHITESPACE_TOKENIZER, "Kefu needs no MITIE model for text_tokens"),
    "ConveRTTokenizer": (WHITESPACE_TOKENIZER, "the transformer tokenizes its own input"),
    "LanguageModelTokenizer": (WHITESPACE_TOKENIZER, "the transformer tokenizes its own input"),
    "DIETClassifier": (TRANSFORMER_CLASSIFIER, _TRANSFORMER_WHY + "; DIET's hyper-parameters are not used"),
    "SklearnIntentClassifier": (TRANSFORMER_CLASSIFIER, _TRANSFORMER_WHY),
    "LogisticRegressionClassifier": (TRANSFORMER_CLASSIFIER, _TRANSFORMER_WHY),
    "KeywordIntentClassifier": (TRANSFORMER_CLASSIFIER, _TRANSFORMER_WHY),
    "MitieIntentClassifier": (TRANSFORMER_CLASSIFIER, _TRANSFORMER_WHY),
    "CRFEntityExtractor": (TRANSFORMER_CLASSIFIER, "the transformer's entity head tags entities (roles and groups too)"),
    "MitieEntityExtractor": (TRANSFORMER_CLASSIFIER, "the transformer's entity head tags entities"),
    "SpacyEntityExtractor": (TRANSFORMER_CLASSIFIER, "the transformer's entity head tags entities"),
}

SKIPPED: dict[str, str] = {
    "CountVectorsFeaturizer": "the transformer reads the text itself",
    "LexicalSyntacticFeaturizer": "the transformer reads the text itself",
    "RegexFeaturizer": "the transformer reads the text itself; regex/lookup entities come from RegexEntityExtractor",
    "LanguageModelFeaturizer": "KefuTransformerClassifier is the language model (all-MiniLM-L6-v2 or multilingual-e5-small, fine-tuned)",
    "ConveRTFeaturizer": "KefuTransformerClassifier is the language model",
    "SpacyFeaturizer": "KefuTransformerClassifier is the language model",
    "MitieFeaturizer": "KefuTransformerClassifier is the language model",
    "SpacyNLP": "no spaCy model is needed",
    "MitieNLP": "no MITIE model is needed",
    "HFTransformersNLP": "KefuTransformerClassifier is the language model",
    "ResponseSelector": "KefuTransformerClassifier predicts retrieval intents (faq/x) and fills response_selector",
    "DucklingEntityExtractor": "Duckling needs its own HTTP server; Kefu does not call it",
}

DEFAULT_PIPELINE: list[dict[str, Any]] = [
    {"name": WHITESPACE_TOKENIZER},
    {"name": REGEX_EXTRACTOR},
    {"name": TRANSFORMER_CLASSIFIER},
    {"name": SYNONYM_MAPPER},
    {"name": FALLBACK_CLASSIFIER, "threshold": 0.3, "ambiguity_threshold": 0.1},
]


@dataclass
class ResolvedPipeline:
    """The Kefu components to build, and one note per mapped, skipped or added component."""

    components: list[tuple[type[Component], dict[str, Any]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _kwargs(cls: type[Component], item: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    given = {k: v for k, v in item.items() if k != "name" and not str(k).startswith("_")}
    unknown = sorted(k for k in given if k not in accepted)
    if unknown:
        notes.append(f"{cls.name}: ignored unknown option(s) {', '.join(unknown)}")
    return {k: v for k, v in given.items() if k in accepted}


def resolve(pipeline: list[dict[str, Any]] | None) -> ResolvedPipeline:
    """Turn ``config.yml``'s ``pipeline:`` into Kefu components (an empty pipeline gets Kefu's default)."""
    out = ResolvedPipeline()
    items = list(pipeline or [])
    if not items:
        out.notes.append("empty pipeline: using Kefu's default (" + ", ".join(i["name"] for i in DEFAULT_PIPELINE) + ")")
        items = [dict(i) for i in DEFAULT_PIPELINE]
    present: set[str] = set()
    tokenizer: str | None = None  # one tokenizer makes text_tokens; a second one is skipped
    for item in items:
        name = str(item.get("name", ""))
        short = name.rsplit(".", 1)[-1]
        if short in COMPONENTS:
            cls = COMPONENTS[short]
            if short in present:
                out.notes.append(f"{name}: listed twice; the second one is skipped")
                continue
            if cls.stage == STAGE_TOKENIZER and tokenizer is not None:
                out.notes.append(f"{name}: skipped ({tokenizer} already makes text_tokens; one tokenizer only)")
                continue
            out.components.append((cls, _kwargs(cls, item, out.notes)))
            present.add(short)
            tokenizer = short if cls.stage == STAGE_TOKENIZER else tokenizer
        elif short in MAPPED:
            target, why = MAPPED[short]
            if target in present:
                out.notes.append(f"{name}: skipped ({target} already does its job)")
                continue
            if COMPONENTS[target].stage == STAGE_TOKENIZER and tokenizer is not None:
                out.notes.append(f"{name}: skipped ({tokenizer} already does its job)")
                continue
            out.notes.append(f"{name} → {target} ({why})")
            out.components.append((COMPONENTS[target], {}))
            present.add(target)
            tokenizer = target if COMPONENTS[target].stage == STAGE_TOKENIZER else tokenizer
        elif short in SKIPPED:
            out.notes.append(f"{name}: skipped ({SKIPPED[short]})")
        else:
            out.notes.append(f"{name}: unknown component, skipped (Kefu runs only its own NLU components)")
    if TRANSFORMER_CLASSIFIER not in present:
        out.notes.append(f"no intent classifier in the pipeline: added {TRANSFORMER_CLASSIFIER}")
        out.components.append((KefuTransformerClassifier, {}))
    return out


def log_notes(notes: list[str]) -> None:
    """One info line per note."""
    for note in notes:
        logger.info("pipeline: %s", note)
