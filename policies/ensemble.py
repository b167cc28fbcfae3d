"""Build the policies a ``config.yml`` names, train them together and combine their predictions.

Combination follows Rasa 3.x: every policy scores every action; a prediction that ignores the user's
input (a form's happy path) beats the others; otherwise the highest confidence wins and ties go to the
higher priority (RulePolicy 4 > Memoization 3 > UnexpecTED 2 > TED/KefuML 1). An action that was just
rejected is never predicted again, nor ``action_listen`` right after the user spoke. If the winner is
less sure than ``core_fallback_threshold`` (RulePolicy's option, 0.3 by default), the
``core_fallback_action_name`` runs instead.

Rasa names map to Kefu's: ``TEDPolicy`` → :class:`KefuMLPolicy` (an info line says so),
``UnexpecTEDIntentPolicy`` is skipped (an info line says so), Rasa 2.x policies get an error that
names their replacement.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot import events as ev
from bot.constants import ACTION_DEFAULT_FALLBACK_NAME, ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.events import EventDict
from bot.tracker import applied_events
from bot.training_data import StoryData
from policies.constants import (
    DEFAULT_CORE_FALLBACK_THRESHOLD,
    DEFAULT_MAX_HISTORY,
    ENSEMBLE_FILE,
)
from policies.memoization import AugmentedMemoizationPolicy, MemoizationPolicy
from policies.ml_policy import KefuMLPolicy
from policies.policy import Policy, PolicyError, Prediction, TrackerLike, tracker_events
from policies.rule import Contradiction, RulePolicy
from policies.state import states_and_actions
from policies.story_graph import TrainingTracker, generate_trackers

logger = logging.getLogger(__name__)

SelfEnsemble = TypeVar("SelfEnsemble", bound="PolicyEnsemble")

POLICY_CLASSES: dict[str, type[Policy]] = {
    "RulePolicy": RulePolicy,
    "MemoizationPolicy": MemoizationPolicy,
    "AugmentedMemoizationPolicy": AugmentedMemoizationPolicy,
    "KefuMLPolicy": KefuMLPolicy,
    "TEDPolicy": KefuMLPolicy,
}
SKIPPED_POLICIES = {
    "UnexpecTEDIntentPolicy": "Kefu has no action_unlikely_intent policy; UnexpecTEDIntentPolicy is skipped",
}
REMOVED_POLICIES = {
    "FormPolicy": "RulePolicy (forms are loops handled by RulePolicy since Rasa 2.0)",
    "MappingPolicy": "RulePolicy (write a rule: intent → action)",
    "FallbackPolicy": "RulePolicy with core_fallback_threshold",
    "TwoStageFallbackPolicy": "RulePolicy and a rule for nlu_fallback → action_two_stage_fallback",
    "SklearnPolicy": "KefuMLPolicy (TEDPolicy)",
    "KerasPolicy": "KefuMLPolicy (TEDPolicy)",
}
# Rasa keys that mean something else (or nothing) for Kefu's class, and how to translate them
_TED_TRANSLATIONS = {"random_seed": "seed", "learning_rate": "learning_rate"}

# Rasa 3's default policies (``rasa init`` config with the policies left empty)
DEFAULT_POLICIES_CONFIG: list[dict[str, Any]] = [
    {"name": "MemoizationPolicy"},
    {"name": "RulePolicy"},
    {"name": "UnexpecTEDIntentPolicy", "max_history": 5, "epochs": 100},
    {"name": "TEDPolicy", "max_history": 5, "epochs": 100, "constrain_similarities": True},
]


def _constructor_keys(cls: type[Policy]) -> set[str]:
    import inspect

    return {name for name in inspect.signature(cls.__init__).parameters if name != "self"}


def policy_from_config(item: dict[str, Any]) -> Policy | None:
    """Build one policy from a ``policies:`` item (None for a skipped Rasa policy).

    :raises PolicyError: unknown or removed policy name
    """
    name = str(item.get("name"))
    if name in SKIPPED_POLICIES:
        logger.info(SKIPPED_POLICIES[name])
        return None
    if name in REMOVED_POLICIES:
        raise PolicyError(f"policy '{name}' was removed in Rasa 3 and Kefu does not have it: use {REMOVED_POLICIES[name]}")
    cls = POLICY_CLASSES.get(name)
    if cls is None and "." in name:  # a custom Rasa policy class: ``kefu data validate`` says whether it imports
        logger.warning("custom policy %s is skipped: Kefu runs its own policies, not Rasa graph components", name)
        return None
    if cls is None:
        known = ", ".join(sorted(set(POLICY_CLASSES) | set(SKIPPED_POLICIES)))
        raise PolicyError(f"unknown policy '{name}' in config.yml (Kefu knows {known})")
    if name != cls.__name__:
        logger.info("policy %s is served by Kefu's %s", name, cls.__name__)
    allowed = _constructor_keys(cls)
    kwargs: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in item.items():
        if key == "name" or key.startswith("_"):
            continue
        if cls is KefuMLPolicy and key in _TED_TRANSLATIONS:
            key = _TED_TRANSLATIONS[key]
        if cls is KefuMLPolicy and key == "batch_size" and isinstance(value, list):
            value = value[0]
        if key in allowed:
            kwargs[key] = value
        else:
            ignored.append(key)
    if ignored:
        logger.debug("%s ignores option(s) %s", cls.__name__, ", ".join(sorted(ignored)))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"policy '{name}': {exc}") from exc


class PolicyEnsemble:
    """The configured policies, trained together, predicting as one (Rasa 3.x priorities + core fallback).

    :param policies: the policies (any order; priorities decide ties)
    :param augmentation_factor: glued stories per story for the ML policy (0: none)
    :param seed: seed of the training-data generation
    """

    def __init__(self, policies: Sequence[Policy], augmentation_factor: int = 0, seed: int = 42) -> None:
        if not policies:
            raise PolicyError("the ensemble needs at least one policy")
        self.policies = list(policies)
        self.augmentation_factor = augmentation_factor
        self.seed = seed
        #: ask every policy on every turn (``kefu shell --debug`` shows all votes); by default a policy
        #: whose vote cannot change the outcome is not asked
        self.all_votes = False

    @classmethod
    def from_config(
        cls, policies_config: Sequence[dict[str, Any]] | None, domain: Domain | None = None, **kwargs: Any
    ) -> PolicyEnsemble:
        """Build the policies of ``config.yml``'s ``policies:`` list (Rasa's defaults when empty)."""
        config = list(policies_config or DEFAULT_POLICIES_CONFIG)
        policies = [p for p in (policy_from_config(item) for item in config) if p is not None]
        names = [p.name for p in policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PolicyError(f"policy {', '.join(duplicates)} is configured more than once")
        if domain is not None:
            for policy in policies:
                if isinstance(policy, RulePolicy) and policy.core_fallback_action_name not in domain.action_names:
                    raise PolicyError(
                        f"RulePolicy's core_fallback_action_name '{policy.core_fallback_action_name}' "
                        f"is not an action of the domain"
                    )
        return cls(policies, **kwargs)

    # -- fallback settings (RulePolicy's, as in Rasa) --------------------------------------------
    @property
    def rule_policy(self) -> RulePolicy | None:
        return next((p for p in self.policies if isinstance(p, RulePolicy)), None)

    @property
    def core_fallback_threshold(self) -> float:
        rule = self.rule_policy
        return rule.core_fallback_threshold if rule else DEFAULT_CORE_FALLBACK_THRESHOLD

    @property
    def core_fallback_action_name(self) -> str:
        rule = self.rule_policy
        return rule.core_fallback_action_name if rule else ACTION_DEFAULT_FALLBACK_NAME

    # -- training ------------------------------------------------------------------------------
    def training_trackers(self, story_data: StoryData, domain: Domain) -> list[TrainingTracker]:
        return generate_trackers(story_data, domain, self.augmentation_factor, self.seed)

    def learn(self: SelfEnsemble, story_data: StoryData, domain: Domain) -> SelfEnsemble:
        """Train every policy on the trackers made from ``story_data``."""
        return self.learn_trackers(self.training_trackers(story_data, domain), domain)

    def learn_trackers(self: SelfEnsemble, trackers: Sequence[TrainingTracker], domain: Domain) -> SelfEnsemble:
        for policy in self.policies:
            policy.learn(trackers, domain)
        return self

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, tracker: TrackerLike, domain: Domain) -> Prediction:
        """The next action: the best policy's prediction, with every policy's vote in ``votes``."""
        events = tracker_events(tracker)
        return self.combine_predictions(self._predictions(events, domain), events, domain)

    def _predictions(self, events: list[EventDict], domain: Domain) -> list[Prediction]:
        """Every policy's prediction, in config order, except those that cannot change the outcome.

        Policies are asked from the highest priority down. Once one is certain (confidence 1 after
        the ensemble's exclusions), a lower-priority policy that only scores actions can at best tie,
        and ties go to the higher priority: it is not asked (the ML policy's featurizing and forward
        pass are most of a turn's policy time, and rules or memorised stories decide most turns).
        """
        excluded = self._excluded_actions(events)
        names = domain.action_names
        order = sorted(range(len(self.policies)), key=lambda i: -self.policies[i].priority)
        predictions: dict[int, Prediction] = {}
        certain_at: int | None = None
        for index in order:
            policy = self.policies[index]
            if (certain_at is not None and not self.all_votes and policy.scores_actions_only
                    and policy.priority < certain_at):
                continue
            prediction = policy.predict(events, domain)
            predictions[index] = prediction
            cleaned = self._without(prediction, excluded, names) if excluded else prediction
            if cleaned.action_name is not None and cleaned.confidence >= 1.0 and certain_at is None:
                certain_at = policy.priority
        return [predictions[i] for i in sorted(predictions)]

    @staticmethod
    def _excluded_actions(events: list[EventDict]) -> set[str]:
        """Actions no policy may predict now: one the action server just rejected, and listening
        right after the user spoke."""
        excluded: set[str] = set()
        if events and events[-1].get("event") == ev.ACTION_EXECUTION_REJECTED and events[-1].get("name"):
            excluded.add(str(events[-1]["name"]))
        if _user_just_spoke(events):
            excluded.add(ACTION_LISTEN_NAME)
        return excluded

    def combine_predictions(self, predictions: Sequence[Prediction], tracker: TrackerLike, domain: Domain) -> Prediction:
        """Rasa 3.x's choice among policy predictions, plus the core fallback."""
        events = tracker_events(tracker)
        names = domain.action_names
        excluded = self._excluded_actions(events)
        cleaned = [self._without(p, excluded, names) if excluded else p for p in predictions]
        no_user = any(p.is_no_user_prediction for p in cleaned)
        candidates = [p for p in cleaned if p.is_no_user_prediction == no_user]
        best = max(candidates, key=lambda p: (p.confidence, p.priority))
        votes = sorted(cleaned, key=lambda p: (p.confidence, p.priority), reverse=True)
        must_have = [e for p in cleaned for e in p.events]
        threshold = self.core_fallback_threshold
        if best.action_name is None or best.confidence < threshold:
            fallback = self.core_fallback_action_name
            probabilities = [0.0] * len(names)
            if fallback in names:
                probabilities[names.index(fallback)] = threshold
            rule = self.rule_policy
            return Prediction.from_probabilities(
                probabilities, names, rule.name if rule else type(self).__name__,
                rule.priority if rule else best.priority, events=must_have,
                source=f"no policy was surer than core_fallback_threshold {threshold:g}", votes=votes,
            )
        return Prediction(
            probabilities=list(best.probabilities),
            policy_name=best.policy_name,
            action_name=best.action_name,
            confidence=best.confidence,
            priority=best.priority,
            events=must_have + list(best.optional_events),
            is_no_user_prediction=best.is_no_user_prediction,
            source=best.source,
            votes=votes,
        )

    @staticmethod
    def _without(prediction: Prediction, excluded: set[str], names: Sequence[str]) -> Prediction:
        probabilities = [0.0 if name in excluded else p for name, p in zip(names, prediction.probabilities, strict=False)]
        return Prediction.from_probabilities(
            probabilities, names, prediction.policy_name, prediction.priority,
            events=prediction.events, optional_events=prediction.optional_events,
            is_no_user_prediction=prediction.is_no_user_prediction, source=prediction.source,
        )

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write each policy into its own sub-directory plus ``ensemble.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        entries = []
        for index, policy in enumerate(self.policies):
            directory = f"{index}_{policy.name}"
            policy.save(path / directory)
            entries.append({"class": policy.name, "path": directory})
        data = {"policies": entries, "augmentation_factor": self.augmentation_factor, "seed": self.seed}
        (path / ENSEMBLE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> PolicyEnsemble:
        """Read an ensemble written by :meth:`save`."""
        path = Path(path)
        ensemble_file = path / ENSEMBLE_FILE
        if not ensemble_file.exists():
            raise PolicyError(f"{ensemble_file}: not found (expected a directory written by PolicyEnsemble.save())")
        data = json.loads(ensemble_file.read_text(encoding="utf-8"))
        policies = []
        for entry in data["policies"]:
            policy_cls = POLICY_CLASSES.get(entry["class"])
            if policy_cls is None:
                raise PolicyError(f"{path}: unknown policy class '{entry['class']}'")
            policies.append(policy_cls.load(path / entry["path"]))
        return cls(policies, augmentation_factor=data.get("augmentation_factor", 0), seed=data.get("seed", 42))


def _user_just_spoke(events: Sequence[dict[str, Any]]) -> bool:
    """True after a user message (or a bare ``action_listen``): listening again would stall the bot."""
    for event in reversed(applied_events(events)):
        kind = event.get("event")
        if kind == ev.USER:
            return True
        if kind == ev.ACTION:
            return event.get("name") == ACTION_LISTEN_NAME
    return False


def find_contradictions(
    story_data: StoryData, domain: Domain, max_history: int | None = DEFAULT_MAX_HISTORY
) -> list[Contradiction]:
    """Rules and stories that predict different next actions after the same history.

    Two kinds are reported: a rule that predicts something else than a story or another rule says
    (what RulePolicy refuses at training), and two stories that continue differently after the same
    last ``max_history`` states (what memoization has to drop).
    """
    trackers = generate_trackers(story_data, domain)
    rule = RulePolicy(restrict_rules=False, check_for_contradictions=False)
    rule.learn(trackers, domain)
    found = list(rule.contradictions)
    seen: dict[str, tuple[str, Any, str]] = {}
    reported: set[tuple[str, str]] = set()
    by_key: dict[str, set[str]] = defaultdict(set)
    for tracker in trackers:
        if tracker.is_rule or tracker.is_augmented:
            continue
        states, actions = states_and_actions(tracker.events, domain)
        for index, action in enumerate(actions):
            window = states[: index + 1]
            if max_history:
                window = window[-max_history:]
            key = json.dumps(window, sort_keys=True)
            name = str(action.get("name"))
            by_key[key].add(name)
            if key not in seen:
                seen[key] = (name, tracker.position_of(action), tracker.sender_id)
                continue
            other_name, other_source, other_story = seen[key]
            if other_name == name or (other_story, tracker.sender_id) in reported:
                continue
            reported.add((other_story, tracker.sender_id))
            found.append(Contradiction(
                tracker.position_of(action), other_source,
                f"story '{tracker.sender_id}' continues with '{name}' where story '{other_story}' continues with "
                f"'{other_name}' after the same {len(window)} turn(s)",
            ))
    return found
