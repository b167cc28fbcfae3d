"""Test stories against a trained policy or ensemble, the way ``rasa test core`` does.

Each action a test story names (implicit ``action_listen`` included) is predicted from the story's
events before it (teacher forcing). Tests run no action server, so when an active form is predicted
where the story expects something else, the form's rejection is emulated (an
``action_execution_rejected`` event) and the prediction repeated, as Rasa does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot import events as ev
from bot.domain import Domain
from bot.events import EventDict
from bot.tracker import applied_events
from bot.training_data import StoryBlock
from policies.constants import SHOULD_NOT_BE_SET
from policies.policy import Prediction
from policies.story_graph import EvalStep, story_to_eval_steps


class Predictor(Protocol):
    def predict(self, tracker: Sequence[EventDict], domain: Domain) -> Prediction: ...


def _active_loop(events: Sequence[EventDict]) -> str | None:
    for event in reversed(applied_events(events)):
        if event.get("event") == ev.ACTIVE_LOOP:
            name = event.get("name")
            return name if name and name != SHOULD_NOT_BE_SET else None
    return None


def predict_for_evaluation(predictor: Predictor, events: Sequence[EventDict], domain: Domain,
                           expected_action: str) -> Prediction:
    """Predict the next action of a test conversation, emulating a form's rejection like Rasa's tests."""
    events = list(events)
    prediction = predictor.predict(events, domain)
    loop = _active_loop(events)
    if loop and prediction.action_name == loop and expected_action != loop:
        prediction = predictor.predict(events + [ev.ActionExecutionRejected(loop, timestamp=0.0)], domain)
    return prediction


@dataclass
class StepResult:
    """One predicted action of a test story."""

    step: EvalStep
    prediction: Prediction

    @property
    def predicted_action(self) -> str | None:
        return self.prediction.action_name

    @property
    def correct(self) -> bool:
        return self.prediction.action_name == self.step.expected_action


@dataclass
class StoryEvaluation:
    """Every step of every test story, with accuracy figures."""

    results: list[StepResult] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of actions predicted right (Rasa's action-level accuracy)."""
        return sum(r.correct for r in self.results) / len(self.results) if self.results else 1.0

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if not r.correct]

    def stories(self) -> dict[tuple[str, int], list[StepResult]]:
        """Results grouped by (story name, ``or`` branch)."""
        grouped: dict[tuple[str, int], list[StepResult]] = {}
        for result in self.results:
            grouped.setdefault((result.step.story, result.step.branch), []).append(result)
        return grouped

    @property
    def conversation_accuracy(self) -> float:
        """Share of test conversations with every action right."""
        grouped = self.stories()
        return sum(all(r.correct for r in rs) for rs in grouped.values()) / len(grouped) if grouped else 1.0


def evaluate_stories(predictor: Predictor, blocks: Iterable[StoryBlock], domain: Domain) -> StoryEvaluation:
    """Predict every action of the test stories ``blocks``."""
    evaluation = StoryEvaluation()
    for block in blocks:
        for step in story_to_eval_steps(block, domain):
            prediction = predict_for_evaluation(predictor, step.events_before, domain, step.expected_action)
            evaluation.results.append(StepResult(step, prediction))
    return evaluation
