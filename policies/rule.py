"""RulePolicy: rules, forms (loops) and the core fallback, with Rasa 3.x semantics.

What it predicts, in order:

1. ``action_restart`` / ``action_back`` / ``action_session_start`` right after the user sent the
   ``restart`` / ``back`` / ``session_start`` intent.
2. The active loop's happy path: while a form (or ``action_two_stage_fallback``) is active and did not
   reject its last run, predict the form; right after the form ran, predict ``action_listen``.
3. The longest rule whose states match the end of the conversation. Rules learn from their states
   after the ``...`` snippet (so a rule without ``conversation_start`` applies anywhere). Inside an
   active loop, a rule that ends in ``action_listen`` is replaced by the loop (unless a story shows that
   the bot waits for the user there); a loop predicted right after the user answered something else
   carries a ``loop_interrupted`` event.
4. Otherwise ``core_fallback_action_name`` with confidence ``core_fallback_threshold`` (when
   ``enable_fallback_prediction``): any policy that is surer wins, else the fallback runs.

Training refuses (``InvalidRuleError``) rules with more than one user turn (``restrict_rules``) and
rules/stories whose next action a rule contradicts (``check_for_contradictions``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from bot import events as ev
from bot.constants import (
    ACTION_BACK_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_RESTART_NAME,
    ACTION_SESSION_START_NAME,
    INTENT_BACK,
    INTENT_RESTART,
    INTENT_SESSION_START,
)
from bot.domain import Domain
from bot.events import EventDict
from bot.tracker import applied_events
from bot.training_data import SourcePos
from policies.constants import (
    DEFAULT_CORE_FALLBACK_THRESHOLD,
    DEFAULT_RULES,
    LOOKUP_FILE,
    LOOP_RULES,
    LOOP_RULES_SEPARATOR,
    PREVIOUS_ACTION,
    RULE_POLICY_PRIORITY,
    RULE_SNIPPET_ACTION_NAME,
    SHOULD_NOT_BE_SET,
)
from policies.policy import InvalidRuleError, Policy, PolicyError, Prediction
from policies.state import (
    State,
    active_loop_name,
    format_states,
    is_loop_rejected,
    is_prev_action_listen,
    prev_action_name,
    state_key,
    states_and_actions,
    tracker_states,
)
from policies.story_graph import TrainingTracker

logger = logging.getLogger(__name__)

SelfRule = TypeVar("SelfRule", bound="RulePolicy")

# Rasa Open Source default actions overrule everything.
DEFAULT_ACTION_MAPPINGS = {
    INTENT_RESTART: ACTION_RESTART_NAME,
    INTENT_BACK: ACTION_BACK_NAME,
    INTENT_SESSION_START: ACTION_SESSION_START_NAME,
}
LOOP_WAS_INTERRUPTED = "loop_was_interrupted"
DO_NOT_PREDICT_LOOP_ACTION = "do_not_predict_loop_action"
ALLOWED_NUMBER_OF_USER_INPUTS = 1


class Contradiction(NamedTuple):
    """A story or rule step whose next action a rule predicts differently.

    :param source_a: the contradicted step (in a story or rule)
    :param source_b: the step of a rule that predicts something else
    :param message: what is wrong, naming both (Rasa's wording)
    """

    source_a: SourcePos | None
    source_b: SourcePos | None
    message: str


class _RuleFinding(NamedTuple):
    action: str | None
    source: str | None  # the matching rule's key (or the states' key when nothing matched)
    returning_from_unhappy_path: bool = False
    is_no_user_prediction: bool = False


def _is_rule_snippet_state(state: State) -> bool:
    return prev_action_name(state) == RULE_SNIPPET_ACTION_NAME


def _create_feature_key(states: Sequence[State]) -> str | None:
    """Key of the states after the last ``...`` snippet (None when nothing follows it)."""
    kept: list[State] = []
    for state in reversed(states):
        if _is_rule_snippet_state(state):
            break
        kept.insert(0, state)
    return state_key(kept) if kept else None


def _states_for_unhappy_loop_predictions(states: Sequence[State]) -> list[State]:
    # keep the previous meaningful action before action_listen, forget the previous intent
    if len(states) == 1 or not states[-2].get(PREVIOUS_ACTION):
        return [states[-1]]
    return [{PREVIOUS_ACTION: states[-2][PREVIOUS_ACTION]}, states[-1]]


def _as_comparable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _does_rule_match_state(rule_state: State, conversation_state: State) -> bool:
    for state_type, rule_sub_state in rule_state.items():
        conversation_sub_state = conversation_state.get(state_type, {})
        for key, rule_value in rule_sub_state.items():
            rule_value = _as_comparable(rule_value)
            value = _as_comparable(conversation_sub_state.get(key))
            if rule_value and rule_value != SHOULD_NOT_BE_SET and value != rule_value:
                return False
            if rule_value == SHOULD_NOT_BE_SET and value and value != SHOULD_NOT_BE_SET:
                return False
    return True


class RulePolicy(Policy):
    """Rasa 3.x's RulePolicy: rules, loops (forms) and the core fallback.

    :param priority: Rasa 3.x's rule priority (4)
    :param core_fallback_threshold: confidence of the fallback prediction; a surer policy wins over it
    :param core_fallback_action_name: the action predicted when no rule applies
    :param enable_fallback_prediction: predict the fallback action when no rule applies
    :param restrict_rules: refuse rules with more than one user message
    :param check_for_contradictions: refuse rules and stories that a rule contradicts
    :param use_nlu_confidence_as_score: score a rule hit with the intent confidence instead of 1.0
    """

    rasa_names = ("RulePolicy",)

    def __init__(
        self,
        priority: int = RULE_POLICY_PRIORITY,
        core_fallback_threshold: float = DEFAULT_CORE_FALLBACK_THRESHOLD,
        core_fallback_action_name: str = ACTION_DEFAULT_FALLBACK_NAME,
        enable_fallback_prediction: bool = True,
        restrict_rules: bool = True,
        check_for_contradictions: bool = True,
        use_nlu_confidence_as_score: bool = False,
    ) -> None:
        super().__init__(priority)
        self.core_fallback_threshold = float(core_fallback_threshold)
        self.core_fallback_action_name = core_fallback_action_name
        self.enable_fallback_prediction = enable_fallback_prediction
        self.restrict_rules = restrict_rules
        self.check_for_contradictions = check_for_contradictions
        self.use_nlu_confidence_as_score = use_nlu_confidence_as_score
        self.rules: dict[str, str] = {}
        self.unhappy_rules: dict[str, str] = {}
        self.rule_names: dict[str, list[str]] = {}
        self.contradictions: list[Contradiction] = []
        self._parsed: dict[str, list[State]] = {}
        self._by_last_action: dict[int, tuple[dict[str, str], int, dict[str | None, list[str]]]] = {}

    # -- learning ----------------------------------------------------------------------------------
    def learn(self: SelfRule, trackers: Sequence[TrainingTracker], domain: Domain) -> SelfRule:
        """Learn the rules (and the loops' unhappy paths from rules and stories).

        :raises InvalidRuleError: a rule has several user turns (``restrict_rules``) or a rule
            contradicts a rule or story (``check_for_contradictions``)
        """
        if self.enable_fallback_prediction and self.core_fallback_action_name not in domain.action_names:
            raise PolicyError(
                f"the fallback action '{self.core_fallback_action_name}' configured for RulePolicy "
                f"(core_fallback_action_name) is not an action of the domain"
            )
        trackers = [t for t in trackers if not t.is_augmented]
        rule_trackers = [t for t in trackers if t.is_rule]
        story_trackers = [t for t in trackers if not t.is_rule]
        if self.restrict_rules:
            self._check_rule_restriction(rule_trackers)
        self._create_lookup(rule_trackers, story_trackers, domain)
        self.contradictions = self.find_contradictions(trackers, domain)
        if self.check_for_contradictions and self.contradictions:
            lines = "\n".join(f"- {c.message}" for c in self.contradictions)
            raise InvalidRuleError(
                f"contradicting rules or stories found:\n{lines}\n"
                f"Update your stories and rules so that they don't contradict each other."
            )
        logger.debug("RulePolicy memorised %d rules", len(self.rules))
        return self

    def _check_rule_restriction(self, rule_trackers: Sequence[TrainingTracker]) -> None:
        too_long = sorted({
            t.sender_id for t in rule_trackers
            if sum(1 for e in t.events if e.get("event") == ev.USER) > ALLOWED_NUMBER_OF_USER_INPUTS
        })
        if too_long:
            raise InvalidRuleError(
                f"rules {', '.join(repr(n) for n in too_long)} contain more than {ALLOWED_NUMBER_OF_USER_INPUTS} "
                f"user message; rules are not meant to hard-code a state machine: write stories for these "
                f"(or set restrict_rules: false)"
            )

    def _create_lookup(self, rule_trackers: Sequence[TrainingTracker], story_trackers: Sequence[TrainingTracker],
                       domain: Domain) -> None:
        self.rules = {}
        self.rule_names = defaultdict(list)
        ambiguous: set[str] = set()
        all_examples: list[tuple[list[State], str]] = []
        for tracker in rule_trackers:
            states, actions = states_and_actions(tracker.events, domain, omit_unset_slots=True)
            for index, action in enumerate(actions):
                name = str(action.get("name"))
                all_examples.append((states[: index + 1], name))
                if name == RULE_SNIPPET_ACTION_NAME:
                    continue
                key = _create_feature_key(states[: index + 1])
                if key is None or key in ambiguous:
                    continue
                known = self.rules.get(key)
                if known is None:
                    self.rules[key] = name
                elif known != name:
                    ambiguous.add(key)
                    del self.rules[key]
                if tracker.sender_id not in self.rule_names[key]:
                    self.rule_names[key].append(tracker.sender_id)
        self.rule_names = dict(self.rule_names)
        for tracker in story_trackers:
            states, actions = states_and_actions(tracker.events, domain)
            all_examples += [(states[: i + 1], str(a.get("name"))) for i, a in enumerate(actions)]
        self.unhappy_rules = {}
        for states, action in all_examples:
            loop = active_loop_name(states[-1])
            if not loop:
                continue
            key = _create_feature_key(_states_for_unhappy_loop_predictions(states))
            if not key:
                continue
            if is_prev_action_listen(states[-1]) and action == loop:
                self.unhappy_rules[key] = LOOP_WAS_INTERRUPTED
            elif not is_prev_action_listen(states[-1]) and action != loop:
                self.unhappy_rules[key] = DO_NOT_PREDICT_LOOP_ACTION
        self._parsed = {}
        self._by_last_action = {}

    # -- contradictions ----------------------------------------------------------------------------
    def find_contradictions(self, trackers: Sequence[TrainingTracker], domain: Domain) -> list[Contradiction]:
        """Run the learned rules over every rule and story and report steps a rule predicts differently."""
        rule_trackers = [t for t in trackers if t.is_rule and not t.is_augmented]
        # which rule (and which of its steps) stands behind each rule key
        sources: dict[str, list[tuple[str, str, SourcePos | None]]] = defaultdict(list)
        for tracker, gold, event, finding in self._run_on_trackers(rule_trackers, domain):
            if finding.source is None:
                continue
            rule_name, gold_name = tracker.sender_id, gold
            if finding.source.startswith((DEFAULT_RULES, LOOP_RULES)):
                rule_name, gold_name = finding.source, finding.action or gold
            sources[finding.source].append((rule_name, gold_name, tracker.position_of(event)))
        found: list[Contradiction] = []
        seen: set[tuple[str, str, str]] = set()
        all_trackers = [t for t in trackers if not t.is_augmented]
        for tracker, gold, event, finding in self._run_on_trackers(all_trackers, domain):
            predicted = finding.action
            if predicted is None and tracker.is_rule:
                # a rule must always predict: nothing matching means the fallback would run
                predicted = self.core_fallback_action_name
            if not predicted or not finding.source or predicted == gold:
                continue
            against = [(name, src) for name, action, src in sources.get(finding.source, []) if action != gold]
            if not against:
                continue
            kind = "rule" if tracker.is_rule else "story"
            names = sorted({name for name, _ in against})
            message = (
                f"the prediction of the action '{gold}' in {kind} '{tracker.sender_id}' is contradicting "
                f"with rule(s) '{', '.join(names)}'"
            )
            if predicted != self.core_fallback_action_name:
                message += f" which predicted action '{predicted}'"
            marker = (tracker.sender_id, gold, ",".join(names))
            if marker in seen:
                continue
            seen.add(marker)
            found.append(Contradiction(tracker.position_of(event), against[0][1], message + "."))
        return found

    def _run_on_trackers(self, trackers: Sequence[TrainingTracker], domain: Domain):
        for tracker in trackers:
            running: list[EventDict] = []
            unpredictable = True  # the first action is always unpredictable
            for event in applied_events(tracker.events):
                if event.get("event") != ev.ACTION:
                    running.append(event)
                    continue
                name = str(event.get("name"))
                if name == RULE_SNIPPET_ACTION_NAME:
                    unpredictable = True
                    running.append(event)
                    continue
                if unpredictable:
                    unpredictable = False
                    running.append(event)
                    continue
                yield tracker, name, event, self._predicted_action_name(running, domain, name)
                running.append(event)

    def _predicted_action_name(self, events: list[EventDict], domain: Domain, gold: str) -> _RuleFinding:
        finding = self._find(events, domain)
        loop = _active_loop(events)
        if loop and finding.action != gold and finding.action == loop:
            # a loop is always predicted first; emulate its rejection to see the unhappy path
            finding = self._find(events + [ev.ActionExecutionRejected(loop, timestamp=0.0)], domain)
        return finding

    # -- prediction --------------------------------------------------------------------------------
    def _find(self, events: list[EventDict], domain: Domain) -> _RuleFinding:
        default = self._find_action_from_default_actions(events)
        if default.action:
            return default
        happy = self._find_action_from_loop_happy_path(events)
        if happy.action:
            return happy
        return self._find_action_from_rules(events, domain)

    def _predict(self, events: list[EventDict], domain: Domain) -> Prediction:
        finding = self._find(events, domain)
        probabilities = self._default_probabilities(domain)
        if self.enable_fallback_prediction and self.core_fallback_action_name in domain.action_names:
            probabilities[domain.action_names.index(self.core_fallback_action_name)] = self.core_fallback_threshold
        if finding.action and finding.action in domain.action_names:
            score = 1.0
            if self.use_nlu_confidence_as_score and not finding.is_no_user_prediction:
                score = _latest_intent_confidence(events)
            probabilities[domain.action_names.index(finding.action)] = score
        return self._prediction(
            probabilities,
            domain,
            events=[ev.LoopInterrupted(True, timestamp=0.0)] if finding.returning_from_unhappy_path else [],
            is_no_user_prediction=finding.is_no_user_prediction,
            source=self._describe_source(finding.source),
        )

    def _describe_source(self, source: str | None) -> str | None:
        if not source or source.startswith((DEFAULT_RULES, LOOP_RULES)):
            return source
        names = self.rule_names.get(source)
        states = self._rule_states(source)
        prefix = f"rule(s) {', '.join(repr(n) for n in names)}: " if names and source in self.rules else ""
        return prefix + format_states(states)

    @staticmethod
    def _find_action_from_default_actions(events: Sequence[EventDict]) -> _RuleFinding:
        latest_action, latest_intent = None, None
        for event in reversed(applied_events(events)):
            kind = event.get("event")
            if kind == ev.ACTION and latest_action is None:
                latest_action = event.get("name")
            elif kind == ev.USER and latest_intent is None:
                latest_intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if latest_action is not None and latest_intent is not None:
                break
        if latest_action != ACTION_LISTEN_NAME or latest_intent is None:
            return _RuleFinding(None, None)
        action = DEFAULT_ACTION_MAPPINGS.get(latest_intent)
        return _RuleFinding(action, DEFAULT_RULES + latest_intent if action else None)

    @staticmethod
    def _find_action_from_loop_happy_path(events: Sequence[EventDict]) -> _RuleFinding:
        loop = _active_loop(events)
        if loop is None or is_loop_rejected(events):
            return _RuleFinding(None, None)
        latest_action = _latest_action(events)
        if latest_action and latest_action != loop:
            logger.debug("predicted loop '%s'", loop)
            return _RuleFinding(loop, LOOP_RULES + loop, is_no_user_prediction=True)
        if latest_action == loop:
            logger.debug("predicted '%s' after loop '%s'", ACTION_LISTEN_NAME, loop)
            return _RuleFinding(ACTION_LISTEN_NAME, f"{LOOP_RULES}{loop}{LOOP_RULES_SEPARATOR}{ACTION_LISTEN_NAME}",
                                is_no_user_prediction=True)
        return _RuleFinding(None, None)

    def _rule_states(self, key: str) -> list[State]:
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = json.loads(key)
            self._parsed[key] = parsed
        return parsed

    def _is_rule_applicable(self, key: str, turn_index: int, conversation_state: State) -> bool:
        rule_states = self._rule_states(key)
        if turn_index >= len(rule_states):
            return True
        rule_state = rule_states[len(rule_states) - 1 - turn_index]
        rule_prev = rule_state.get(PREVIOUS_ACTION)
        conversation_prev = conversation_state.get(PREVIOUS_ACTION)
        if not rule_prev and not conversation_prev:
            return True  # both are conversation starts
        if not rule_prev or not conversation_prev:
            return False
        return _does_rule_match_state(rule_state, conversation_state)

    def _keys_by_last_action(self, lookup: dict[str, str]) -> dict[str | None, list[str]]:
        """``lookup``'s keys grouped by the action their last state follows (``None``: the last state
        has no previous action, or one that does not pin the name: those are always checked)."""
        cached = self._by_last_action.get(id(lookup))
        if cached is not None and cached[0] is lookup and cached[1] == len(lookup):
            return cached[2]
        groups: dict[str | None, list[str]] = defaultdict(list)
        for key in lookup:
            states = self._rule_states(key)
            name = prev_action_name(states[-1]) if states else None
            groups[name if isinstance(name, str) and name and name != SHOULD_NOT_BE_SET else None].append(key)
        index = dict(groups)
        self._by_last_action[id(lookup)] = (lookup, len(lookup), index)
        return index

    def _get_possible_keys(self, lookup: dict[str, str], states: Sequence[State]) -> set[str]:
        if not states:
            return set(lookup)
        # a rule whose last state follows action X can only apply right after X: look at those alone
        groups = self._keys_by_last_action(lookup)
        name = prev_action_name(states[-1])
        possible = set(groups.get(None, ()))
        if isinstance(name, str) and name:
            possible.update(groups.get(name, ()))
        for index, state in enumerate(reversed(states)):
            possible = {key for key in possible if self._is_rule_applicable(key, index, state)}
            if not possible:
                break
        return possible

    def _find_action_from_rules(self, events: list[EventDict], domain: Domain) -> _RuleFinding:
        states = tracker_states(events, domain)
        returning_from_unhappy_path = False
        rule_keys = self._get_possible_keys(self.rules, states)
        predicted: str | None = None
        best_key = ""
        if rule_keys:
            # several matching rules: one is a subset of the other, take the longest
            best_key = max(sorted(rule_keys), key=len)
            predicted = self.rules.get(best_key)
        loop = _active_loop(events)
        if loop:
            unhappy_keys = self._get_possible_keys(self.unhappy_rules, states)
            conditions = {self.unhappy_rules[key] for key in unhappy_keys}
            listen_from_general_rule = (
                predicted == ACTION_LISTEN_NAME and not active_loop_name(self._rule_states(best_key)[-1])
            )
            if listen_from_general_rule:
                if DO_NOT_PREDICT_LOOP_ACTION not in conditions:
                    logger.debug("predicted loop '%s' instead of '%s' from a general rule", loop, ACTION_LISTEN_NAME)
                    return _RuleFinding(loop, best_key, returning_from_unhappy_path)
                predicted = None
            if LOOP_WAS_INTERRUPTED in conditions:
                returning_from_unhappy_path = True
        return _RuleFinding(predicted, best_key or _create_feature_key(states), returning_from_unhappy_path)

    # -- persistence -------------------------------------------------------------------------------
    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "core_fallback_threshold": self.core_fallback_threshold,
            "core_fallback_action_name": self.core_fallback_action_name,
            "enable_fallback_prediction": self.enable_fallback_prediction,
            "restrict_rules": self.restrict_rules,
            "check_for_contradictions": self.check_for_contradictions,
            "use_nlu_confidence_as_score": self.use_nlu_confidence_as_score,
        }

    def _save_learned(self, path: Path) -> None:
        data = {"rules": self.rules, "rules_for_loop_unhappy_path": self.unhappy_rules, "rule_names": self.rule_names}
        (path / LOOKUP_FILE).write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")

    def _load_learned(self, path: Path) -> None:
        lookup_file = path / LOOKUP_FILE
        data = json.loads(lookup_file.read_text(encoding="utf-8")) if lookup_file.exists() else {}
        self.rules = data.get("rules", {})
        self.unhappy_rules = data.get("rules_for_loop_unhappy_path", {})
        self.rule_names = data.get("rule_names", {})
        self._parsed = {}
        self._by_last_action = {}


# ---------------------------------------------------------------------------------------------
# tracker facts the rules need (from the events, with the tracker's restart/rewind semantics)

def _active_loop(events: Sequence[EventDict]) -> str | None:
    for event in reversed(applied_events(events)):
        if event.get("event") == ev.ACTIVE_LOOP:
            name = event.get("name")
            return name if name and name != SHOULD_NOT_BE_SET else None
    return None


def _latest_action(events: Sequence[EventDict]) -> str | None:
    for event in reversed(applied_events(events)):
        if event.get("event") == ev.ACTION:
            return event.get("name")
    return None


def _latest_intent_confidence(events: Sequence[EventDict]) -> float:
    for event in reversed(events):
        if event.get("event") == ev.USER:
            confidence = ((event.get("parse_data") or {}).get("intent") or {}).get("confidence")
            return float(confidence) if confidence is not None else 1.0
    return 1.0
