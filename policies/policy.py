"""The shape every dialogue policy shares, SB3-style: ``learn`` / ``predict`` / ``save`` / ``load``.

``predict`` adapts (accepts a :class:`~bot.tracker.DialogueStateTracker` or a list of events, maps
probabilities onto the caller's ``domain.action_names``) and calls ``_predict``, which computes.
``save`` writes ``params.json`` (the constructor parameters) plus the learned data; ``load`` builds
a new object with ``cls(**params)`` and reads the learned data back (it never loads in place).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot.domain import Domain
from bot.errors import KefuError
from bot.events import EventDict
from bot.tracker import DialogueStateTracker
from policies.constants import DEFAULT_POLICY_PRIORITY, PARAMS_FILE
from policies.story_graph import TrainingTracker

logger = logging.getLogger(__name__)

SelfPolicy = TypeVar("SelfPolicy", bound="Policy")
TrackerLike = DialogueStateTracker | Sequence[EventDict]


class PolicyError(KefuError):
    """A policy cannot be built, trained or loaded as asked."""


class InvalidRuleError(PolicyError):
    """Rules that Rasa would refuse: contradicting rules/stories, or rules with several user turns."""


@dataclass
class Prediction:
    """What a policy (or the ensemble) thinks the bot should do next.

    :param probabilities: one score per action of ``domain.action_names`` (same order)
    :param policy_name: the policy that made the prediction (``RulePolicy``, ``KefuMLPolicy``, …)
    :param action_name: the best action (None if every score is 0)
    :param confidence: the best action's score
    :param priority: the policy's priority (breaks ties in confidence)
    :param events: events to apply whichever policy wins (e.g. ``loop_interrupted``)
    :param optional_events: events to apply only if this prediction wins
    :param is_no_user_prediction: a prediction that ignores the user's input (a form's happy path)
    :param source: why (rule key, memorised states) for ``--debug``
    :param votes: the ensemble's per-policy predictions, best first (ensemble only)
    """

    probabilities: list[float]
    policy_name: str | None
    action_name: str | None = None
    confidence: float = 0.0
    priority: int = DEFAULT_POLICY_PRIORITY
    events: list[EventDict] = field(default_factory=list)
    optional_events: list[EventDict] = field(default_factory=list)
    is_no_user_prediction: bool = False
    source: str | None = None
    votes: list[Prediction] = field(default_factory=list)

    @classmethod
    def from_probabilities(
        cls, probabilities: Sequence[float], action_names: Sequence[str], policy_name: str | None,
        priority: int = DEFAULT_POLICY_PRIORITY, **kwargs: Any,
    ) -> Prediction:
        """Fill in ``action_name`` and ``confidence`` from the scores (ties: the first action)."""
        probs = [float(p) for p in probabilities]
        best = max(range(len(probs)), key=lambda i: (probs[i], -i)) if probs else None
        action = action_names[best] if best is not None and probs[best] > 0 else None
        confidence = probs[best] if best is not None else 0.0
        return cls(probs, policy_name, action, confidence, priority, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``kefu shell --debug`` and the HTTP ``predict`` endpoint show)."""
        return {
            "policy": self.policy_name,
            "action": self.action_name,
            "confidence": self.confidence,
            "priority": self.priority,
            "events": self.events + self.optional_events,
            "source": self.source,
            "votes": [
                {"policy": v.policy_name, "action": v.action_name, "confidence": v.confidence,
                 "priority": v.priority}
                for v in self.votes
            ],
        }


def tracker_events(tracker: TrackerLike) -> list[EventDict]:
    """The events of a tracker, or the list itself."""
    if isinstance(tracker, DialogueStateTracker):
        return tracker.events
    return list(tracker)


class Policy(ABC):
    """Base class of Kefu's dialogue policies.

    :param priority: breaks ties between policies that are equally confident (higher wins)
    """

    #: Rasa's name for the policy in ``config.yml`` (subclasses set it)
    rasa_names: tuple[str, ...] = ()
    #: the policy only scores actions: it never adds events nor makes no-user predictions, so the
    #: ensemble may skip it when a policy of higher priority is already certain (its vote could not win)
    scores_actions_only: bool = False

    def __init__(self, priority: int = DEFAULT_POLICY_PRIORITY) -> None:
        self.priority = priority

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- the four verbs --------------------------------------------------------------------------
    @abstractmethod
    def learn(self: SelfPolicy, trackers: Sequence[TrainingTracker], domain: Domain) -> SelfPolicy:
        """Learn from training trackers (see :func:`policies.story_graph.generate_trackers`)."""

    def predict(self, tracker: TrackerLike, domain: Domain) -> Prediction:
        """Score every action of ``domain.action_names`` for the conversation so far."""
        return self._predict(tracker_events(tracker), domain)

    @abstractmethod
    def _predict(self, events: list[EventDict], domain: Domain) -> Prediction:
        """Compute the prediction for ``events`` (the public :meth:`predict` adapts the input)."""

    def save(self, path: str | Path) -> None:
        """Write ``params.json`` and the learned data into the directory ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params = {"class": type(self).__name__, **self._get_constructor_parameters()}
        (path / PARAMS_FILE).write_text(json.dumps(params, indent=2, sort_keys=True), encoding="utf-8")
        self._save_learned(path)

    @classmethod
    def load(cls: type[SelfPolicy], path: str | Path) -> SelfPolicy:
        """Build a new policy from a directory written by :meth:`save` (does not load in place)."""
        path = Path(path)
        params_file = path / PARAMS_FILE
        if not params_file.exists():
            raise PolicyError(f"{params_file}: not found (expected a policy saved with {cls.__name__}.save())")
        params = json.loads(params_file.read_text(encoding="utf-8"))
        saved_class = params.pop("class", cls.__name__)
        if saved_class != cls.__name__:
            raise PolicyError(f"{path}: holds a {saved_class}, not a {cls.__name__}")
        policy = cls(**params)
        policy._load_learned(path)
        return policy

    # -- hooks -----------------------------------------------------------------------------------
    def _get_constructor_parameters(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy (JSON-ready)."""
        return {"priority": self.priority}

    def _save_learned(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Write what :meth:`learn` produced (subclasses; nothing by default)."""

    def _load_learned(self, path: Path) -> None:  # noqa: B027 - optional hook
        """Read what :meth:`_save_learned` wrote (subclasses; nothing by default)."""

    @staticmethod
    def _default_probabilities(domain: Domain) -> list[float]:
        return [0.0] * len(domain.action_names)

    def _prediction(self, probabilities: Sequence[float], domain: Domain, **kwargs: Any) -> Prediction:
        return Prediction.from_probabilities(probabilities, domain.action_names, self.name, self.priority, **kwargs)
