"""Kefu NLU: one fine-tuned transformer for intents, sentiment/emotion and entities, in a Rasa-style pipeline.

``from nlu import NLUPipeline`` is resolved lazily, so importing a small module such as
``nlu.lexicon`` does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nlu.pipeline import NLUPipeline

__all__ = ["NLUPipeline"]


def __getattr__(name: str) -> Any:
    if name == "NLUPipeline":
        from nlu.pipeline import NLUPipeline

        return NLUPipeline
    raise AttributeError(f"module 'nlu' has no attribute {name!r}")
