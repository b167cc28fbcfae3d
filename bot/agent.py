"""A loaded assistant: domain, NLU, dialogue policy and response generator, swapped as one unit.

The processor reads ``processor.agent`` once per turn, so ``PUT /model`` can replace the agent
while conversations go on: a turn that started with the old model finishes with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.domain import Domain
from bot.interpreter import Interpreter
from bot.nlg import TemplatedNLG

logger = logging.getLogger(__name__)


class PredictionLike(Protocol):
    """What the processor reads from a policy prediction (``policies.policy.Prediction``)."""

    action_name: str | None
    confidence: float
    policy_name: str | None
    events: list[dict[str, Any]]
    optional_events: list[dict[str, Any]]


class DialoguePolicy(Protocol):
    """Anything that predicts the next action (``policies.PolicyEnsemble``, a stub in tests)."""

    def predict(self, tracker: Any, domain: Domain) -> PredictionLike: ...


@dataclass
class Agent:
    """The parts of a trained model the bot needs at run time.

    :param domain: the domain the model was trained with
    :param policy: predicts the next action (None: the bot only listens)
    :param interpreter: parses text (None: only ``/intent{...}`` payloads are understood)
    :param nlg: fills in responses (built from the domain when not given)
    :param model_path: where the model was loaded from
    :param model_id: fingerprint of the model (``GET /status``)
    """

    domain: Domain
    policy: DialoguePolicy | None = None
    interpreter: Interpreter | None = None
    nlg: TemplatedNLG | None = None
    model_path: str | None = None
    model_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.nlg is None:
            self.nlg = TemplatedNLG(self.domain.responses)

    @classmethod
    def load(cls, model_path: str | Path, seed: int | None = None) -> Agent:
        """Load a model directory or ``.tar.gz`` archive written by ``kefu train``."""
        from bot.model_archive import load_model

        return load_model(model_path, seed=seed)

    @property
    def is_ready(self) -> bool:
        return self.policy is not None
