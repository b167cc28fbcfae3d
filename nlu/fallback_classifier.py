"""FallbackClassifier: predict ``nlu_fallback`` when the top intent is unsure, ambiguous or out of scope.

Rasa's rule: if the top confidence is below ``threshold``, or the gap between the two best
intents is below ``ambiguity_threshold``, the intent becomes ``nlu_fallback`` with confidence
``threshold`` and is put first in ``intent_ranking``. Kefu adds one reason: the transformer's
out-of-scope detector rejected the message.
"""

from __future__ import annotations

from typing import Any

from nlu.component import STAGE_FALLBACK, Component, Message
from nlu.constants import NLU_FALLBACK_INTENT

OOD_FLAG = "_out_of_scope"


class FallbackClassifier(Component):
    """Turn unsure predictions into ``nlu_fallback``.

    :param threshold: minimum top-intent confidence
    :param ambiguity_threshold: minimum gap between the top two intents
    """

    name = "FallbackClassifier"
    stage = STAGE_FALLBACK

    def __init__(self, threshold: float = 0.3, ambiguity_threshold: float = 0.1) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"FallbackClassifier threshold must be in [0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.ambiguity_threshold = float(ambiguity_threshold)

    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "ambiguity_threshold": self.ambiguity_threshold}

    def should_fallback(self, message: Message) -> bool:
        """Whether ``message`` (with intent and ranking filled in) is a fallback."""
        if message.get(OOD_FLAG):
            return True
        intent = message.get("intent") or {}
        if intent.get("name") is None:
            return False
        if float(intent.get("confidence", 0.0)) < self.threshold:
            return True
        ranking = message.get("intent_ranking") or []
        if len(ranking) >= 2:
            gap = float(ranking[0]["confidence"]) - float(ranking[1]["confidence"])
            if gap < self.ambiguity_threshold:
                return True
        return False

    def process(self, messages: list[Message]) -> None:
        for message in messages:
            if self.should_fallback(message):
                apply_fallback(message, self.threshold)


def apply_fallback(message: Message, confidence: float) -> None:
    """Make ``nlu_fallback`` the intent of ``message`` and the head of its ranking."""
    fallback = {"name": NLU_FALLBACK_INTENT, "confidence": confidence}
    message["intent"] = dict(fallback)
    ranking = [r for r in message.get("intent_ranking", []) if r.get("name") != NLU_FALLBACK_INTENT]
    message["intent_ranking"] = [fallback, *ranking][:10]
