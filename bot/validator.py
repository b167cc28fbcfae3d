"""``kefu data validate``: schema problems plus cross-file checks, all before any training.

Every check appends :class:`~bot.errors.Problem` objects (``path:line:col: severity: message``).
Contradicting rules and stories are found here, from the files alone, where Rasa only reports
them once training starts.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.constants import DEFAULT_ACTION_NAMES, REQUESTED_SLOT, UTTER_PREFIX
from bot.errors import ERROR, WARNING, Problem
from bot.project import Project
from bot.training_data import (
    ANY_SLOT_VALUE,
    RETRIEVAL_INTENT_SEPARATOR,
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    SourcePos,
    Step,
    StoryBlock,
    UserStep,
)

DEFAULT_MAX_HISTORY = 5
LOOP_ACTIONS = {"action_two_stage_fallback"}


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Validator:
    """Runs every check over a loaded :class:`~bot.project.Project`."""

    project: Project
    problems: list[Problem] = field(default_factory=list)

    # -- helpers -----------------------------------------------------------------------------------
    def _add(self, source: SourcePos | None, severity: str, message: str, fallback: str = "") -> None:
        if source is None:
            self.problems.append(Problem(fallback or "domain.yml", 0, 0, severity, message))
        else:
            self.problems.append(Problem(source.path, source.line, source.col, severity, message))

    @property
    def _domain_path(self) -> str:
        files = self.project.loaded_domain.files
        return files[0] if files else "domain.yml"

    def _where(self, kind: str, name: str) -> SourcePos | None:
        return self.project.loaded_domain.where(kind, name)

    # -- entry point ------------------------------------------------------------------------------------
    def validate(self) -> list[Problem]:
        """Run all checks; return every problem (loader problems included), sorted."""
        self.problems = list(self.project.all_problems)
        if self.project.loaded_domain.unreadable:
            # Cross-file checks against a domain we could not read would only repeat that one error.
            return sorted(self.problems)
        self.check_domain()
        self.check_nlu()
        self.check_stories()
        self.check_contradictions()
        self.check_config()
        unique = {(p.path, p.line, p.col, p.severity, p.message): p for p in self.problems}
        return sorted(unique.values())

    # -- domain -------------------------------------------------------------------------------------
    def check_domain(self) -> None:
        domain = self.project.domain
        responses = set(domain.responses)
        for kind, names in (("intent", domain.intents), ("action", domain.actions), ("entity", domain.entities)):
            for name in names:
                if " - " in name or name.startswith("- "):
                    self._add(self._where(kind, name), ERROR, f"{kind} name '{name}' looks like several list items on"
                              " one line; check the indentation of the '-' items")
        for action in domain.actions:
            if domain.is_retrieval_action(action):
                if not any(name.startswith(action + RETRIEVAL_INTENT_SEPARATOR) for name in responses):
                    self._add(self._where("action", action), WARNING,
                              f"retrieval action '{action}' has no '{action}/<sub-intent>' responses", self._domain_path)
            elif action.startswith(UTTER_PREFIX) and action not in responses:
                self._add(self._where("action", action), WARNING,
                          f"action '{action}' is an utter_ action but has no response in 'responses'"
                          " (the bot will say nothing for it)", self._domain_path)
        for slot_name, slot in domain.slots.items():
            for index, mapping in enumerate(slot.mappings):
                where = self._where("slot_mapping", f"{slot_name}.{index}") or self._where("slot", slot_name)
                entity = mapping.get("entity")
                if mapping.get("type") == "from_entity" and entity and entity not in domain.entities:
                    self._add(where, WARNING, f"slot '{slot_name}' maps from entity '{entity}', which is not declared"
                              f" in 'entities'{_did_you_mean(entity, domain.entities)}; this mapping never fills it")
                if mapping.get("type") == "from_entity" and entity in domain.entities:
                    role, group = mapping.get("role"), mapping.get("group")
                    if role and role not in domain.entity_roles.get(entity, []):
                        self._add(where, WARNING, f"slot '{slot_name}' maps from role '{role}' of entity '{entity}', which declares no such role")
                    if group and group not in domain.entity_groups.get(entity, []):
                        self._add(where, WARNING, f"slot '{slot_name}' maps from group '{group}' of entity '{entity}', which declares no such group")
                for key in ("intent", "not_intent"):
                    intents = mapping.get(key)
                    for intent in [intents] if isinstance(intents, str) else intents or []:
                        if intent not in domain.all_intents:
                            self._add(where, WARNING, f"slot '{slot_name}' mapping uses intent '{intent}', which is not"
                                      f" a declared intent{_did_you_mean(intent, domain.intents)}; no message will"
                                      " carry it")
                for cond in mapping.get("conditions") or []:
                    loop = cond.get("active_loop") if isinstance(cond, dict) else None
                    if loop and loop not in domain.forms and loop not in LOOP_ACTIONS:
                        self._add(where, ERROR, f"slot '{slot_name}' mapping condition names active_loop '{loop}', which is not a form")
                    elif (loop in domain.forms and domain.forms[loop].required_slots
                          and slot_name not in domain.forms[loop].required_slots
                          and mapping.get("type") != "from_trigger_intent"):
                        self._add(where, ERROR, f"slot '{slot_name}' has a mapping condition for form '{loop}', but"
                                  f" form '{loop}' does not list it in 'required_slots' (add it there, as Rasa requires)")
                if mapping.get("type") == "custom" and mapping.get("action") and mapping["action"] not in domain.actions:
                    self._add(where, WARNING, f"slot '{slot_name}' custom mapping names action '{mapping['action']}', which is not declared in 'actions'")
        for form_name, form in domain.forms.items():
            for slot_name in form.required_slots:
                where = self._where("form_slot", f"{form_name}.{slot_name}") or self._where("form", form_name)
                slot = domain.slots.get(slot_name)
                if slot is None:
                    self._add(where, ERROR, f"form '{form_name}' requires slot '{slot_name}', which is not declared"
                              f" in 'slots'{_did_you_mean(slot_name, domain.slots)}")
                    continue
                if not slot.mappings:
                    self._add(where, WARNING, f"form '{form_name}' requires slot '{slot_name}', which has no mappings"
                              " (only the form's validation action can fill it)")
                asks = (f"utter_ask_{form_name}_{slot_name}", f"utter_ask_{slot_name}", f"action_ask_{form_name}_{slot_name}",
                        f"action_ask_{slot_name}")
                if not any(a in domain.responses or a in domain.actions for a in asks):
                    self._add(where, WARNING, f"form '{form_name}' has no way to ask for slot '{slot_name}'"
                              f" (add response 'utter_ask_{slot_name}' or action 'action_ask_{slot_name}')")
            for intent in form.ignored_intents:
                if intent not in domain.all_intents:
                    where = self._where("form_ignored_intent", f"{form_name}.{intent}") or self._where("form", form_name)
                    self._add(where, WARNING, f"form '{form_name}' ignores intent '{intent}', which is not declared")
        for name, variations in domain.responses.items():
            for index, variation in enumerate(variations):
                for cond in variation.get("condition") or []:
                    slot = cond.get("name") if isinstance(cond, dict) else None
                    if slot and slot not in domain.all_slots():
                        where = self._where("response_condition", f"{name}.{index}") or self._where("response", name)
                        self._add(where, WARNING, f"response '{name}' has a condition on slot '{slot}', which is not declared")
        for intent, props in domain.intent_properties.items():
            for key in ("use_entities", "ignore_entities"):
                listed = props.get(key)
                if isinstance(listed, list):
                    for entity in listed:
                        if entity not in domain.entities:
                            self._add(self._where("intent", intent), WARNING,
                                      f"intent '{intent}' {key} lists entity '{entity}', which is not declared")

    # -- NLU ------------------------------------------------------------------------------------------
    def check_nlu(self) -> None:
        domain = self.project.domain
        nlu = self.project.training.nlu
        declared = set(domain.all_intents)
        seen_text: dict[str, tuple[str, SourcePos | None]] = {}
        intents_with_examples: set[str] = set()
        for example in nlu.examples:
            intents_with_examples.add(example.base_intent)
            if example.base_intent not in declared:
                self._add(example.source, WARNING, f"intent '{example.intent}' has NLU examples but is not declared in the"
                          f" domain{_did_you_mean(example.base_intent, domain.intents)}")
            key = " ".join(example.text.lower().split())
            if key in seen_text and seen_text[key][0] != example.intent:
                first_intent, first_source = seen_text[key]
                where = f"{first_source.path}:{first_source.line}" if first_source else "?"
                self._add(example.source, WARNING, f"example '{example.text}' is listed under intent '{example.intent}'"
                          f" and under intent '{first_intent}' ({where})")
            else:
                seen_text.setdefault(key, (example.intent, example.source))
            for span in example.entities:
                if span.entity not in domain.entities:
                    self._add(example.source, WARNING, f"entity '{span.entity}' is annotated in example '{example.text}'"
                              f" but not declared in the domain{_did_you_mean(span.entity, domain.entities)}")
                    continue
                if span.role and span.role not in domain.entity_roles.get(span.entity, []):
                    self._add(example.source, WARNING, f"role '{span.role}' of entity '{span.entity}' is used in example"
                              f" '{example.text}' but not declared under the entity's 'roles'")
                if span.group and span.group not in domain.entity_groups.get(span.entity, []):
                    self._add(example.source, WARNING, f"group '{span.group}' of entity '{span.entity}' is used in example"
                              f" '{example.text}' but not declared under the entity's 'groups'")
        for intent in domain.intents:
            if intent not in intents_with_examples and nlu.examples:
                self._add(self._where("intent", intent), WARNING, f"intent '{intent}' has no NLU training examples")

    # -- stories and rules ------------------------------------------------------------------------------------
    def _all_blocks(self) -> list[StoryBlock]:
        data = self.project.training.stories
        return data.stories + data.rules

    def check_stories(self) -> None:
        domain = self.project.domain
        intents = set(domain.all_intents)
        actions = set(DEFAULT_ACTION_NAMES) | set(domain.actions) | set(domain.forms) | set(domain.responses)
        slots = set(domain.all_slots())
        checkpoints_start: dict[str, SourcePos | None] = {}
        checkpoints_end: dict[str, SourcePos | None] = {}
        for block in self._all_blocks():
            label = f"{block.kind} '{block.name}'"
            steps = list(block.condition) + list(block.steps)
            for position, step in enumerate(_flat(steps)):
                if isinstance(step, UserStep):
                    if step.intent and step.intent not in intents:
                        self._add(step.source, WARNING, f"unknown intent '{step.intent}' in {label}"
                                  f"{_did_you_mean(step.intent, domain.intents)}")
                    for entity in step.entities:
                        if entity.get("entity") not in domain.entities:
                            self._add(step.source, WARNING, f"unknown entity '{entity.get('entity')}' in {label}"
                                      f"{_did_you_mean(str(entity.get('entity')), domain.entities)}")
                elif isinstance(step, ActionStep) and step.action:
                    if step.action not in actions:
                        if step.action.startswith(UTTER_PREFIX):
                            severity = WARNING  # Rasa: "not a valid utterance action", a warning
                            message = f"action '{step.action}' in {label} has no response in the domain"
                        else:
                            severity = ERROR if step.action.startswith("action_") else WARNING  # as Rasa's validator
                            message = f"unknown action '{step.action}' in {label} (not declared in the domain's actions)"
                        self._add(step.source, severity, message + _did_you_mean(step.action, actions))
                elif isinstance(step, SlotStep):
                    for slot in step.slots:
                        if slot not in slots:
                            self._add(step.source, WARNING, f"unknown slot '{slot}' in {label}{_did_you_mean(slot, slots)}")
                elif isinstance(step, ActiveLoopStep):
                    if step.name and step.name not in domain.forms and step.name not in LOOP_ACTIONS:
                        self._add(step.source, ERROR, f"unknown form '{step.name}' in active_loop of {label}"
                                  f"{_did_you_mean(step.name, domain.forms)}")
                elif isinstance(step, CheckpointStep):
                    book = checkpoints_start if position == 0 else checkpoints_end
                    book.setdefault(step.name, step.source)
        for name, source in checkpoints_end.items():
            if name not in checkpoints_start:
                self._add(source, WARNING, f"checkpoint '{name}' is never continued by a story that starts with it")
        for name, source in checkpoints_start.items():
            if name not in checkpoints_end:
                self._add(source, WARNING, f"story starts at checkpoint '{name}', but no story ends with it"
                          " (the story is never reached)")

    # -- contradictions ----------------------------------------------------------------------------------
    def _max_history(self) -> int:
        for name in ("MemoizationPolicy", "AugmentedMemoizationPolicy", "TEDPolicy"):
            policy = self.project.config.policy(name)
            if policy and isinstance(policy.get("max_history"), int):
                return int(policy["max_history"])
        return DEFAULT_MAX_HISTORY

    def check_contradictions(self) -> None:
        """Same history, different next action: between stories, between rules, and rules vs stories."""
        for problem in find_contradictions(self.project.training.stories.stories,
                                           self.project.training.stories.rules, self._max_history()):
            self.problems.append(problem)

    # -- config ------------------------------------------------------------------------------------------
    def check_config(self) -> None:
        config = self.project.config
        if not config.path:
            return
        for kind, items, known in (("pipeline component", config.pipeline, known_component_names()),
                                   ("policy", config.policies, known_policy_names())):
            for item in items:
                name = str(item.get("name", ""))
                # pipeline components may be named by a dotted path (nlu.registry reads the last part)
                lookup = name.rsplit(".", 1)[-1] if kind == "pipeline component" else name
                if lookup in known:
                    continue
                line, col = item.get("_pos", (0, 0))
                why = import_problem(name, Path(config.path).parent)
                if why is None:
                    self.problems.append(Problem(config.path, line, col, WARNING,
                                                 f"custom {kind} '{name}' is skipped: Kefu runs its own components,"
                                                 " not Rasa graph components"))
                else:
                    self.problems.append(Problem(config.path, line, col, ERROR, f"{kind} '{name}' is neither a Rasa"
                                                 f" 3.x nor a Kefu {kind}, and {why}"))
        for item in config.policies:
            if item.get("name") == "RulePolicy":
                name = item.get("core_fallback_action_name")
                if name and name not in DEFAULT_ACTION_NAMES and name not in self.project.domain.actions:
                    line, col = item.get("_pos", (0, 0))
                    self.problems.append(Problem(config.path, line, col, ERROR,
                                                 f"RulePolicy core_fallback_action_name '{name}' is not a known action"))


# ---------------------------------------------------------------------------------------------------------
# Contradiction search over the files' steps (no training needed)


def _flat(steps: Iterable[Step]) -> Iterator[Step]:
    for step in steps:
        if isinstance(step, OrStep):
            yield from step.alternatives
        else:
            yield step


def _expand_or(steps: list[Step]) -> list[list[Step]]:
    """Every path through a block's ``or`` steps (capped, to stay cheap)."""
    paths: list[list[Step]] = [[]]
    for step in steps:
        if isinstance(step, OrStep):
            paths = [p + [alt] for p in paths for alt in step.alternatives][:64]
        else:
            paths = [p + [step] for p in paths]
    return paths


def _token(step: Step) -> str | None:
    if isinstance(step, UserStep):
        entities = ",".join(sorted(str(e.get("entity")) for e in step.entities))
        return f"intent:{step.intent or step.text}" + (f"[{entities}]" if entities else "")
    if isinstance(step, ActionStep):
        return f"action:{step.action or step.bot_text}"
    if isinstance(step, ActiveLoopStep):
        return f"loop:{step.name}"
    return None


def _slot_token(name: str, value: Any) -> str:
    return f"slot:{name}={'<set>' if value is ANY_SLOT_VALUE else value!r}"


@dataclass
class _Point:
    """A place in a story where an action is predicted."""

    tokens: tuple[str, ...]  # user/action/loop (+slot) tokens before it, since the story started
    turn_starts: tuple[int, ...]  # indexes in tokens where a user turn starts
    action: str
    source: SourcePos | None
    block: StoryBlock
    loop: str | None
    slots: dict[str, Any]
    at_start: bool


def _story_points(block: StoryBlock) -> Iterator[_Point]:
    for path in _expand_or(list(block.steps)):
        tokens: list[str] = []
        turn_starts: list[int] = []
        loop: str | None = None
        slots: dict[str, Any] = {}
        pending_listen_source: SourcePos | None = None
        for step in path:
            if isinstance(step, CheckpointStep):
                continue
            if isinstance(step, UserStep):
                if tokens and pending_listen_source is not None:
                    yield _Point(tuple(tokens), tuple(turn_starts), "action_listen", pending_listen_source,
                                 block, loop, dict(slots), False)
                turn_starts.append(len(tokens))
                tokens.append(_token(step) or "")
                pending_listen_source = None
            elif isinstance(step, ActionStep):
                yield _Point(tuple(tokens), tuple(turn_starts), step.action or "", step.source, block, loop,
                             dict(slots), len(turn_starts) <= 1)
                tokens.append(_token(step) or "")
                pending_listen_source = step.source
            elif isinstance(step, ActiveLoopStep):
                loop = step.name
                tokens.append(_token(step) or "")
                if loop is None:
                    slots.pop(REQUESTED_SLOT, None)
            elif isinstance(step, SlotStep):
                for name, value in step.slots.items():
                    slots[name] = value
                    if name != REQUESTED_SLOT:
                        tokens.append(_slot_token(name, value))


def _window(point: _Point, max_history: int) -> tuple[str, ...]:
    if len(point.turn_starts) > max_history:
        start = point.turn_starts[-max_history]
        return point.tokens[start:]
    return point.tokens


def _condition_holds(rule: StoryBlock, point: _Point) -> bool:
    for step in rule.condition:
        if isinstance(step, ActiveLoopStep) and step.name != point.loop:
            return False
        if isinstance(step, SlotStep):
            for name, value in step.slots.items():
                have = point.slots.get(name)
                if value is ANY_SLOT_VALUE:
                    if have is None:
                        return False
                elif have != value and not (have is ANY_SLOT_VALUE and value is not None):
                    return False
    return True


def _rule_points(rule: StoryBlock) -> Iterator[tuple[tuple[str, ...], str, SourcePos | None]]:
    """(prefix tokens, predicted action, source) for each action of a rule, plus the final listen."""
    for path in _expand_or(list(rule.steps)):
        tokens: list[str] = []
        last_action_source: SourcePos | None = None
        for step in path:
            if isinstance(step, ActionStep):
                # A rule's leading action is history, not a prediction (Rasa: "after this action, ...").
                if tokens or rule.conversation_start:
                    yield tuple(tokens), step.action or "", step.source
                last_action_source = step.source
            token = _token(step)
            if token:
                tokens.append(token)
        if path and isinstance(path[-1], (ActionStep, SlotStep, ActiveLoopStep)) and rule.wait_for_user_input:
            yield tuple(tokens), "action_listen", last_action_source


def _label(block: StoryBlock, source: SourcePos | None) -> str:
    where = f" ({source.path}:{source.line})" if source else ""
    return f"{block.kind} '{block.name}'{where}"


def find_contradictions(stories: list[StoryBlock], rules: list[StoryBlock], max_history: int) -> list[Problem]:
    """Problems for histories that lead to two different next actions."""
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()

    def report(source: SourcePos | None, message: str) -> None:
        key = (f"{source.path}:{source.line}" if source else "", message)
        if key in reported:
            return
        reported.add(key)
        # A warning, as Rasa's validator reports story conflicts; training decides by priority.
        problems.append(Problem(source.path if source else "data", source.line if source else 0,
                                source.col if source else 0, WARNING, message))

    # 1. stories against stories, over the last max_history turns
    seen: dict[tuple[str, ...], _Point] = {}
    points = [p for story in stories for p in _story_points(story)]
    for point in points:
        key = _window(point, max_history)
        if not key:
            continue
        other = seen.get(key)
        if other is None:
            seen[key] = point
        elif other.action != point.action and other.block is not point.block:
            report(point.source, f"contradicting stories: after the same history, {_label(point.block, point.source)}"
                   f" predicts '{point.action}' but {_label(other.block, other.source)} predicts '{other.action}'")

    # 2. rules against rules (same condition, same conversation_start, same prefix)
    rule_seen: dict[tuple[Any, ...], tuple[str, StoryBlock, SourcePos | None]] = {}
    for rule in rules:
        condition = tuple(sorted(
            (_token(s) or ",".join(_slot_token(k, v) for k, v in sorted(s.slots.items())))
            for s in rule.condition if isinstance(s, (ActiveLoopStep, SlotStep))
        ))
        for prefix, action, source in _rule_points(rule):
            key = (rule.conversation_start, condition, prefix)
            if key in rule_seen and rule_seen[key][0] != action:
                other_action, other_rule, other_source = rule_seen[key]
                report(source, f"contradicting rules: {_label(rule, source)} predicts '{action}' but"
                       f" {_label(other_rule, other_source)} predicts '{other_action}' after the same steps")
            rule_seen.setdefault(key, (action, rule, source))

    # 3. rules against stories: where a story's history ends with a rule's steps, both must agree
    for rule in rules:
        for prefix, action, _source in _rule_points(rule):
            if not prefix:
                continue
            for point in points:
                if len(point.tokens) < len(prefix) or point.tokens[len(point.tokens) - len(prefix):] != prefix:
                    continue
                if rule.conversation_start and len(point.tokens) != len(prefix):
                    continue
                if action == "action_listen" and point.loop and point.action in (point.loop,):
                    continue  # an active form takes over after a rule's last action
                if not _condition_holds(rule, point):
                    continue
                if point.action != action:
                    report(point.source, f"{_label(point.block, point.source)} predicts '{point.action}' where"
                           f" {_label(rule, rule.source)} predicts '{action}' (the rule and the story contradict)")
    return problems


def known_component_names() -> set[str]:
    """Every pipeline component name Kefu runs, maps or skips (all of Rasa 3.6's built-ins among them)."""
    from nlu.registry import COMPONENTS, MAPPED, SKIPPED

    return set(COMPONENTS) | set(MAPPED) | set(SKIPPED)


def known_policy_names() -> set[str]:
    """Every policy name Kefu runs or skips (Rasa 3.6's built-ins among them; removed Rasa 2 ones error at training)."""
    from policies.ensemble import POLICY_CLASSES, REMOVED_POLICIES, SKIPPED_POLICIES

    return set(POLICY_CLASSES) | set(SKIPPED_POLICIES) | set(REMOVED_POLICIES)


def import_problem(name: str, project_root: Path) -> str | None:
    """Why ``module.Class`` cannot be imported from the project (None when it can), as Rasa would import it."""
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        return "it is not a 'module.Class' path either"
    sys.path.insert(0, str(project_root.resolve()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure while importing user code is the answer
        return f"cannot be imported ({type(exc).__name__}: {exc})"
    finally:
        sys.path.remove(str(project_root.resolve()))
    if not hasattr(module, class_name):
        return f"module '{module_name}' has no '{class_name}'"
    return None


def validate_project(project: Project) -> list[Problem]:
    """Every problem in ``project``, sorted by file and line."""
    return Validator(project).validate()
