"""What shoppers come for, read from the domain, stories and rules.

A task is "intent → (form →) action": ``return_item`` starts ``return_form``, which needs ``order_id``,
``email`` and ``return_reason``, and on submit runs ``action_start_return``. Intent → first action
comes from rules and stories; form → submit action from the ``submit <form>`` rules; a single-step
action's slots from the entities its intent carries in the stories. ``tasks:`` in simulator.yml
corrects what the data cannot say (``refund_status`` also needs the email).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.constants import ACTION_HANDOFF_NAME
from bot.domain import Domain
from bot.training_data import ActionStep, ActiveLoopStep, SlotStep, StoryBlock, StoryData, UserStep
from simulator.config import SimulatorConfig
from simulator.constants import INTENT_COMPLAINT, INTENT_HUMAN


@dataclass(frozen=True)
class TaskSpec:
    """One thing a shopper can want.

    :param intent: the intent that asks for it
    :param action: the custom action that does it
    :param form: the form that collects its slots first, if any
    :param required_slots: the slots ``action`` needs (a form's order, then extra ones)
    :param optional_slots: slots the shopper may add (``brand`` for a recommendation)
    :param requires_human: the shopper wants a person (success = handoff)
    """

    intent: str
    action: str
    form: str | None = None
    required_slots: tuple[str, ...] = ()
    optional_slots: tuple[str, ...] = ()
    requires_human: bool = False

    @property
    def confirm_slots(self) -> tuple[str, ...]:
        """Slots the shopper answers with affirm/deny (``confirm_cancel``)."""
        return tuple(s for s in self.required_slots if s.startswith("confirm_"))


@dataclass
class TaskCatalog:
    """Every task of a shop, plus the facts about forms and actions the user model needs."""

    tasks: dict[str, TaskSpec] = field(default_factory=dict)  # intent -> task
    form_submit: dict[str, str] = field(default_factory=dict)  # form -> action run on submit
    answers: dict[str, str] = field(default_factory=dict)  # intent -> the action that first answers it
    writes: frozenset[str] = frozenset()  # actions that change an order (simulator.yml destructive_actions)

    def by_action(self, action: str) -> list[TaskSpec]:
        return [t for t in self.tasks.values() if t.action == action]

    @property
    def task_actions(self) -> set[str]:
        return {t.action for t in self.tasks.values()}


def _blocks(stories: StoryData) -> list[StoryBlock]:
    return [*stories.rules, *stories.stories]


def first_actions(stories: StoryData) -> dict[str, list[str]]:
    """intent -> actions that directly follow it somewhere in the data (in order of appearance)."""
    found: dict[str, list[str]] = {}
    for block in _blocks(stories):
        loop = next((s.name for s in block.condition if isinstance(s, ActiveLoopStep)), None)
        steps = [s for s in block.steps if not isinstance(s, SlotStep)]
        for step, nxt in zip(steps, steps[1:], strict=False):
            if isinstance(step, ActiveLoopStep):
                loop = step.name
            elif (isinstance(step, UserStep) and step.intent and loop is None
                  and isinstance(nxt, ActionStep) and nxt.action):
                lst = found.setdefault(step.intent, [])
                if nxt.action not in lst:
                    lst.append(nxt.action)
    return found


def _form_submits(stories: StoryData, domain: Domain) -> dict[str, str]:
    """form -> the action that follows ``active_loop: null`` after the form ran."""
    submits: dict[str, str] = {}
    for block in _blocks(stories):
        steps = block.steps
        for i, step in enumerate(steps):
            if not (isinstance(step, ActionStep) and step.action in domain.forms):
                continue
            j = i + 1
            closed = False
            while j < len(steps) and isinstance(steps[j], ActiveLoopStep | SlotStep):
                if isinstance(steps[j], ActiveLoopStep) and steps[j].name is None:
                    closed = True
                j += 1
            if closed and j < len(steps) and isinstance(steps[j], ActionStep) and steps[j].action:
                submits.setdefault(step.action, steps[j].action)
    return submits


def _entities_of(stories: StoryData, intent: str) -> list[str]:
    seen: list[str] = []
    for block in _blocks(stories):
        for step in block.steps:
            if isinstance(step, UserStep) and step.intent == intent:
                for ent in step.entities:
                    name = ent.get("entity")
                    if name and name not in seen:
                        seen.append(name)
    return seen


def build_task_catalog(domain: Domain, stories: StoryData, config: SimulatorConfig | None = None) -> TaskCatalog:
    """Derive the shop's tasks (see the module docstring); ``config.tasks`` corrects them."""
    config = config or SimulatorConfig()
    firsts = first_actions(stories)
    submits = _form_submits(stories, domain)
    custom = set(domain.user_actions) - set(domain.forms)
    slot_names = set(domain.slots)
    answers = {intent: actions[0] for intent, actions in firsts.items() if actions}
    handoff_action = answers.get(INTENT_HUMAN, ACTION_HANDOFF_NAME)  # what the stories do when asked for a human
    catalog = TaskCatalog(form_submit=submits, answers=answers, writes=frozenset(config.destructive_actions))
    for intent in domain.intents:
        override = config.tasks.get(intent)
        actions = firsts.get(intent, [])
        form = next((a for a in actions if a in domain.forms), None)
        action = submits.get(form) if form else next((a for a in actions if a in custom), None)
        requires_human = bool(override and override.requires_human)
        if intent == INTENT_COMPLAINT and action is None:
            # complaint -> utter_complaint -> human_agent -> action_handoff in the demo stories
            handoff = next((a for a in firsts.get(INTENT_HUMAN, []) if a == handoff_action), None)
            if handoff:
                action, requires_human = handoff, True
        if override and override.action:
            action = override.action
        if action is None or (action == handoff_action and intent == INTENT_HUMAN):
            continue
        if form:
            required = list(domain.forms[form].required_slots)
            optional: list[str] = []
        else:
            ents = [e for e in _entities_of(stories, intent) if e in slot_names]
            required, optional = ents[:1], ents[1:]
            if action == handoff_action:
                required, optional = [], []
        if override and override.required_slots is not None:
            required = [s for s in override.required_slots if s in slot_names]
            optional = [s for s in optional if s not in required]
        catalog.tasks[intent] = TaskSpec(intent, action, form, tuple(required), tuple(optional), requires_human)
    return catalog
