"""Kefu's dialogue policies: rules, memoization, the SB3-compatible ML policy and their ensemble.

Imports stay light: ``torch`` and SB3 load only when :class:`KefuMLPolicy` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from policies.memoization import AugmentedMemoizationPolicy, MemoizationPolicy
from policies.policy import InvalidRuleError, Policy, PolicyError, Prediction
from policies.rule import Contradiction, RulePolicy
from policies.story_graph import EvalStep, TrainingTracker, generate_trackers, story_to_eval_steps

if TYPE_CHECKING:
    from policies.ensemble import PolicyEnsemble, find_contradictions
    from policies.evaluation import StoryEvaluation, evaluate_stories
    from policies.featurizer import TrackerFeaturizer
    from policies.ml_policy import KefuMLPolicy

_LAZY = {
    "PolicyEnsemble": "policies.ensemble",
    "find_contradictions": "policies.ensemble",
    "StoryEvaluation": "policies.evaluation",
    "evaluate_stories": "policies.evaluation",
    "TrackerFeaturizer": "policies.featurizer",
    "KefuMLPolicy": "policies.ml_policy",
}

__all__ = [
    "AugmentedMemoizationPolicy",
    "Contradiction",
    "EvalStep",
    "InvalidRuleError",
    "KefuMLPolicy",
    "MemoizationPolicy",
    "Policy",
    "PolicyEnsemble",
    "PolicyError",
    "Prediction",
    "RulePolicy",
    "StoryEvaluation",
    "TrackerFeaturizer",
    "TrainingTracker",
    "evaluate_stories",
    "find_contradictions",
    "generate_trackers",
    "story_to_eval_steps",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'policies' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
