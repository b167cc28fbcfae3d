"""The base of every pipeline component: train on :class:`NLUData`, process messages, save and load.

A *message* while the pipeline runs is a plain dict that ends up as a
:class:`bot.parse_result.ParseResult`; keys starting with ``_`` are private to the pipeline and
are dropped before a result is returned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from bot.training_data import NLUData

Message = dict[str, Any]
SelfComponent = TypeVar("SelfComponent", bound="Component")

# Stages fix the run order whatever the order in config.yml: tokens, then extractors and
# classifiers, then entity processors (synonyms), then the fallback decision.
STAGE_TOKENIZER = 0
STAGE_EXTRACTOR = 1
STAGE_PROCESSOR = 2
STAGE_FALLBACK = 3


class Component:
    """One step of the NLU pipeline.

    Subclasses take their ``config.yml`` keys as typed keyword arguments, override
    :meth:`train` when they learn something and :meth:`process` to fill in messages.
    """

    name: ClassVar[str] = "Component"
    stage: ClassVar[int] = STAGE_EXTRACTOR
    trainable: ClassVar[bool] = False

    def params(self) -> dict[str, Any]:
        """The constructor keyword arguments (saved to ``pipeline.json``)."""
        return {}

    def train(self: SelfComponent, data: NLUData, seed: int = 0, progress: bool = False) -> SelfComponent:
        """Learn from ``data`` (default: nothing to learn)."""
        return self

    def process(self, messages: list[Message]) -> None:
        """Fill in ``messages`` in place (a batch, so the transformer can run once for all)."""

    def save(self, folder: Path) -> None:
        """Write learned state into ``folder`` (created by the pipeline)."""

    @classmethod
    def load(cls: type[SelfComponent], folder: Path, params: dict[str, Any]) -> SelfComponent:
        """Rebuild a trained component: ``cls(**params)``, then its saved state."""
        return cls(**params)
