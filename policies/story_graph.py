"""Turn stories and rules into training trackers (event lists), as Rasa's TrainingDataGenerator does.

* A user step becomes ``action_listen`` (unless the last event already is one) + a ``user`` event with
  ``parse_data = {"intent": {"name", "confidence": 1.0}, "entities": [...]}`` + the slots that
  ``from_entity`` mappings without a form condition fill (Rasa's ``slots_for_entities``).
* ``or`` steps branch the tracker; checkpoints join story parts (each part is used at most once per
  tracker, so cycles end); a story that does not end at a checkpoint gets a final ``action_listen``.
* A rule is ``condition events`` + ``...`` (unless ``conversation_start``) + its steps + ``...``
  (when ``wait_for_user_input: false``) + ``action_listen``. ``null`` values in rules become
  :data:`~policies.constants.SHOULD_NOT_BE_SET`.
* Augmentation (gluing complete stories together) is off by default, small and seeded when on.

:func:`story_to_eval_steps` turns a test story into (events so far, expected action) pairs for
``kefu test core``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.events import EventDict
from bot.training_data import (
    ANY_SLOT_VALUE,
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    SourcePos,
    Step,
    StoryBlock,
    StoryData,
    UserStep,
)
from policies.constants import RULE_SNIPPET_ACTION_NAME, SHOULD_NOT_BE_SET

STORY_START = "STORY_START"
DEFAULT_TEXT_SLOT_VALUE = "filled"  # Rasa's value for ``slot_was_set: [name]`` on a text slot
MAX_TRACKERS_PER_CHECKPOINT = 200
MAX_BRANCHES_PER_PART = 256


@dataclass
class TrainingTracker:
    """One conversation made from stories or a rule: its events and where each action came from.

    :param sender_id: the story/rule names that make it up, joined with `` > ``
    :param events: the events (Rasa wire dicts)
    :param is_rule: made from a rule (contains ``...`` snippet actions)
    :param is_augmented: made by gluing complete stories together
    """

    sender_id: str
    events: list[EventDict] = field(default_factory=list)
    is_rule: bool = False
    is_augmented: bool = False
    sources: dict[int, SourcePos | None] = field(default_factory=dict, repr=False)  # id(event) -> step
    blocks: dict[int, StoryBlock] = field(default_factory=dict, repr=False)  # id(event) -> block

    def source_of(self, event: EventDict) -> SourcePos | None:
        """The story step that wrote ``event`` (None for implicit ``action_listen``)."""
        return self.sources.get(id(event))

    def position_of(self, event: EventDict) -> SourcePos | None:
        """The step that wrote ``event``, else the start of its story or rule (implicit listens)."""
        source = self.sources.get(id(event))
        if source is None:
            block = self.blocks.get(id(event))
            source = block.source if block is not None else None
        return source

    def block_of(self, event: EventDict) -> StoryBlock | None:
        """The story or rule that wrote ``event``."""
        return self.blocks.get(id(event))

    def copy(self) -> TrainingTracker:
        return TrainingTracker(self.sender_id, list(self.events), self.is_rule, self.is_augmented,
                               dict(self.sources), dict(self.blocks))

    def signature(self) -> tuple[Any, ...]:
        """Hashable summary of the events (for de-duplication)."""
        out = []
        for e in self.events:
            kind = e.get("event")
            if kind == ev.USER:
                parse = e.get("parse_data") or {}
                ents = tuple(sorted((x.get("entity"), str(x.get("value")), x.get("role"), x.get("group"))
                                    for x in parse.get("entities") or []))
                out.append((kind, (parse.get("intent") or {}).get("name"), ents))
            elif kind == ev.SLOT:
                out.append((kind, e.get("name"), repr(e.get("value"))))
            else:
                out.append((kind, e.get("name")))
        return tuple(out)


@dataclass
class EvalStep:
    """One prediction to check when testing a story: the events so far and the action the story expects.

    :param events_before: the conversation up to (not including) the expected action
    :param expected_action: the action the story says comes next
    :param source: the story step that names the action (None for an implicit ``action_listen``)
    :param story: the test story's name
    :param branch: which expansion of the story's ``or`` steps this step belongs to (0 without ``or``)
    """

    events_before: list[EventDict]
    expected_action: str
    source: SourcePos | None = None
    story: str = ""
    branch: int = 0

    @property
    def tracker_events_before(self) -> list[EventDict]:
        """Alias of :attr:`events_before`."""
        return self.events_before


# ---------------------------------------------------------------------------------------------
# events for single steps

def slots_for_entities(entities: Sequence[dict[str, Any]], domain: Domain) -> list[EventDict]:
    """Slot events for entities that ``from_entity`` mappings without a form condition pick up."""
    if not domain.store_entities_as_slots or not entities:
        return []
    out: list[EventDict] = []
    for name, slot in domain.slots.items():
        values: list[Any] = []
        for mapping in slot.mappings:
            conditions = mapping.get("conditions") or []
            if mapping.get("type") != "from_entity" or (conditions and conditions[0].get("active_loop") is not None):
                continue
            for entity in entities:
                if (
                    entity.get("entity") == mapping.get("entity")
                    and entity.get("role") == mapping.get("role")
                    and entity.get("group") == mapping.get("group")
                ):
                    values.append(entity.get("value"))
        if values:
            out.append(ev.SlotSet(name, values if slot.type == "list" else values[-1], timestamp=0.0))
    return out


def default_slot_value(name: str, domain: Domain) -> Any:
    """The value ``slot_was_set: [name]`` stands for (Rasa: ``filled`` for text, ``[filled]`` for lists)."""
    slot = domain.all_slots().get(name)
    if slot is None or slot.type in ("text", "any"):
        return DEFAULT_TEXT_SLOT_VALUE
    if slot.type == "list":
        return [DEFAULT_TEXT_SLOT_VALUE]
    if slot.type == "bool":
        return True
    if slot.type == "float":
        return slot.max_value
    if slot.type == "categorical" and slot.values:
        return slot.values[0]
    return DEFAULT_TEXT_SLOT_VALUE


def user_event(step: UserStep, timestamp: float = 0.0) -> EventDict:
    """The ``user`` event a story's user step stands for (entities without a value get ``""``)."""
    entities = []
    for raw in step.entities:
        entity = {"entity": raw.get("entity"), "value": raw.get("value")}
        if entity["value"] is ANY_SLOT_VALUE or entity["value"] is None:
            entity["value"] = ""
        for key in ("role", "group"):
            if raw.get(key) is not None:
                entity[key] = raw[key]
        entities.append(entity)
    parse_data: dict[str, Any] = {
        "intent": {"name": step.intent, "confidence": 1.0},
        "entities": entities,
    }
    if step.text is not None:
        parse_data["text"] = step.text
    return ev.UserUttered(step.text, parse_data, timestamp=timestamp)


class _Builder:
    """Appends the events of steps to a :class:`TrainingTracker`."""

    def __init__(self, domain: Domain, is_rule: bool) -> None:
        self.domain = domain
        self.is_rule = is_rule

    def _add(self, tracker: TrainingTracker, event: EventDict, source: SourcePos | None,
             block: StoryBlock | None) -> None:
        tracker.events.append(event)
        tracker.sources[id(event)] = source
        if block is not None:
            tracker.blocks[id(event)] = block

    def listen(self, tracker: TrainingTracker, block: StoryBlock | None) -> None:
        last = tracker.events[-1] if tracker.events else None
        if not (last and last.get("event") == ev.ACTION and last.get("name") == ACTION_LISTEN_NAME):
            self._add(tracker, ev.ActionExecuted(ACTION_LISTEN_NAME, timestamp=0.0), None, block)

    def action(self, tracker: TrainingTracker, name: str, source: SourcePos | None,
               block: StoryBlock | None) -> None:
        self._add(tracker, ev.ActionExecuted(name, timestamp=0.0), source, block)

    def step(self, tracker: TrainingTracker, step: Step, block: StoryBlock) -> None:
        if isinstance(step, UserStep):
            self.listen(tracker, block)
            event = user_event(step)
            self._add(tracker, event, step.source, block)
            for slot_event in slots_for_entities(event["parse_data"]["entities"], self.domain):
                self._add(tracker, slot_event, step.source, block)
        elif isinstance(step, ActionStep):
            # an end-to-end ``bot:`` step is the action of saying its text (Rasa's action_text)
            name = step.action or step.bot_text
            if name:
                self.action(tracker, name, step.source, block)
        elif isinstance(step, SlotStep):
            for name, value in step.slots.items():
                if value is ANY_SLOT_VALUE:
                    value = default_slot_value(name, self.domain)
                elif value is None and self.is_rule:
                    value = SHOULD_NOT_BE_SET
                self._add(tracker, ev.SlotSet(name, value, timestamp=0.0), step.source, block)
        elif isinstance(step, ActiveLoopStep):
            name = step.name
            if name is None and self.is_rule:
                name = SHOULD_NOT_BE_SET
            self._add(tracker, ev.ActiveLoop(name, timestamp=0.0), step.source, block)
        elif isinstance(step, CheckpointStep):
            pass  # handled by the graph
        else:  # pragma: no cover - OrStep is expanded by the caller
            raise TypeError(f"unexpected step {step!r}")

    def steps(self, trackers: list[TrainingTracker], steps: Sequence[Step], block: StoryBlock) -> list[TrainingTracker]:
        """Apply ``steps`` to every tracker, branching on ``or``; returns the resulting trackers."""
        current = trackers
        for step in steps:
            if isinstance(step, OrStep):
                branched: list[TrainingTracker] = []
                for tracker in current:
                    for alternative in step.alternatives:
                        copy = tracker.copy()
                        self.step(copy, alternative, block)
                        branched.append(copy)
                current = branched[:MAX_BRANCHES_PER_PART]
            else:
                for tracker in current:
                    self.step(tracker, step, block)
        return current


# ---------------------------------------------------------------------------------------------
# stories: parts joined at checkpoints

@dataclass
class _Part:
    block: StoryBlock
    start: list[str]
    steps: list[Step]
    end: list[str]


def _split_parts(block: StoryBlock) -> list[_Part]:
    parts: list[_Part] = []
    start: list[str] = []
    steps: list[Step] = []
    pending: list[str] = []  # checkpoints seen after some steps
    for step in block.steps:
        if isinstance(step, CheckpointStep):
            if steps:
                pending.append(step.name)
            else:
                start.append(step.name)
            continue
        if pending:
            parts.append(_Part(block, start, steps, pending))
            start, steps, pending = list(pending), [], []
        steps.append(step)
    parts.append(_Part(block, start, steps, pending))
    return parts


def _story_trackers(blocks: Sequence[StoryBlock], domain: Domain, seed: int) -> list[TrainingTracker]:
    builder = _Builder(domain, is_rule=False)
    parts = [part for block in blocks for part in _split_parts(block)]
    rng = random.Random(seed)
    serial = 0
    at_checkpoint: dict[str, list[tuple[int, TrainingTracker, frozenset[int]]]] = {
        STORY_START: [(serial, TrainingTracker(""), frozenset())]
    }
    seen: dict[str, set[tuple[Any, ...]]] = {STORY_START: set()}
    done: list[TrainingTracker] = []
    processed: set[tuple[int, int]] = set()
    consumed: set[str] = set()
    for _round in range(len(parts) + 1):
        changed = False
        for index, part in enumerate(parts):
            for checkpoint in part.start or [STORY_START]:
                consumed.add(checkpoint)
                for number, tracker, used in list(at_checkpoint.get(checkpoint, [])):
                    if (index, number) in processed or index in used:
                        continue
                    processed.add((index, number))
                    changed = True
                    start = tracker.copy()
                    name = part.block.name
                    if name not in start.sender_id.split(" > "):
                        start.sender_id = f"{start.sender_id} > {name}" if start.sender_id else name
                    results = builder.steps([start], part.steps, part.block)
                    if not part.end:
                        for result in results:
                            builder.listen(result, part.block)
                            done.append(result)
                        continue
                    for result in results:
                        for end in part.end:
                            signature = result.signature()
                            bucket = seen.setdefault(end, set())
                            if signature in bucket:
                                continue
                            bucket.add(signature)
                            serial += 1
                            at_checkpoint.setdefault(end, []).append((serial, result, used | {index}))
                    for end in part.end:
                        trackers = at_checkpoint.get(end, [])
                        if len(trackers) > MAX_TRACKERS_PER_CHECKPOINT:
                            at_checkpoint[end] = rng.sample(trackers, MAX_TRACKERS_PER_CHECKPOINT)
        if not changed:
            break
    # trackers that stop at a checkpoint nothing continues from still hold valid turns
    for checkpoint, trackers in at_checkpoint.items():
        if checkpoint != STORY_START and checkpoint not in consumed:
            for _, tracker, _ in trackers:
                done.append(tracker)
    unique: list[TrainingTracker] = []
    signatures: set[tuple[Any, ...]] = set()
    for tracker in done:
        signature = tracker.signature()
        if signature not in signatures:
            signatures.add(signature)
            unique.append(tracker)
    return unique


def rule_trackers(rules: Sequence[StoryBlock], domain: Domain) -> list[TrainingTracker]:
    """One tracker per rule (more where a rule has ``or`` steps)."""
    builder = _Builder(domain, is_rule=True)
    out: list[TrainingTracker] = []
    for rule in rules:
        tracker = TrainingTracker(rule.name, is_rule=True)
        for step in rule.condition:
            builder.step(tracker, step, rule)
        if not rule.conversation_start:
            builder.action(tracker, RULE_SNIPPET_ACTION_NAME, None, rule)
        for result in builder.steps([tracker], [s for s in rule.steps if not isinstance(s, CheckpointStep)], rule):
            if not rule.wait_for_user_input:
                builder.action(result, RULE_SNIPPET_ACTION_NAME, None, rule)
            builder.listen(result, rule)
            out.append(result)
    return out


def augment_trackers(
    trackers: Sequence[TrainingTracker], augmentation_factor: int, seed: int = 42, max_length: int = 60
) -> list[TrainingTracker]:
    """Glue pairs of complete stories together (``augmentation_factor`` × #stories new trackers, seeded)."""
    complete = [t for t in trackers if not t.is_rule and not t.is_augmented and t.events]
    if augmentation_factor <= 0 or len(complete) < 2:
        return []
    rng = random.Random(seed)
    out: list[TrainingTracker] = []
    for _ in range(augmentation_factor * len(complete)):
        first, second = rng.sample(complete, 2)
        glued = first.copy()
        glued.sender_id = f"{first.sender_id} + {second.sender_id}"
        glued.is_augmented = True
        tail = second.events[1:] if second.events and second.events[0].get("name") == ACTION_LISTEN_NAME else second.events
        for event in tail:
            glued.events.append(event)
            glued.sources[id(event)] = second.sources.get(id(event))
            if id(event) in second.blocks:
                glued.blocks[id(event)] = second.blocks[id(event)]
        if len(glued.events) <= max_length:
            out.append(glued)
    return out


def generate_trackers(
    story_data: StoryData,
    domain: Domain,
    augmentation_factor: int = 0,
    seed: int = 42,
) -> list[TrainingTracker]:
    """Every training tracker: stories (checkpoints joined, ``or`` expanded), rules, augmented stories.

    :param story_data: stories and rules
    :param domain: the domain (slot types and mappings)
    :param augmentation_factor: how many glued stories to add per story (0: none, Rasa's default is 50)
    :param seed: seed of the checkpoint sampling and the augmentation
    """
    stories = _story_trackers(story_data.stories, domain, seed)
    rules = rule_trackers(story_data.rules, domain)
    return stories + rules + augment_trackers(stories, augmentation_factor, seed)


# ---------------------------------------------------------------------------------------------
# test stories

def story_events(block: StoryBlock, domain: Domain) -> list[TrainingTracker]:
    """The conversation(s) a single test story describes (one per ``or`` alternative)."""
    if block.is_rule:
        return rule_trackers([block], domain)
    builder = _Builder(domain, is_rule=False)
    start = TrainingTracker(block.name)
    results = builder.steps([start], [s for s in block.steps if not isinstance(s, CheckpointStep)], block)
    for result in results:
        builder.listen(result, block)
    return results


def story_to_eval_steps(block: StoryBlock, domain: Domain) -> list[EvalStep]:
    """Every (events so far, expected action) pair of a test story, implicit ``action_listen`` included.

    Rule snippets (``...``) are not expected actions. With ``or`` steps, the steps of every
    alternative are returned one after the other (see :attr:`EvalStep.branch`).
    """
    out: list[EvalStep] = []
    for branch, tracker in enumerate(story_events(block, domain)):
        for index, event in enumerate(tracker.events):
            if event.get("event") != ev.ACTION or event.get("name") == RULE_SNIPPET_ACTION_NAME:
                continue
            out.append(EvalStep(
                events_before=list(tracker.events[:index]),
                expected_action=str(event.get("name")),
                source=tracker.source_of(event),
                story=block.name,
                branch=branch,
            ))
    return out


def iter_eval_steps(blocks: Iterable[StoryBlock], domain: Domain) -> list[EvalStep]:
    """:func:`story_to_eval_steps` for many test stories."""
    return [step for block in blocks for step in story_to_eval_steps(block, domain)]
