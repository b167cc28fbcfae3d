"""The bot's side of a simulated dialogue: run one action on the real tracker, in process.

What the live engine and the action server would do for each action, written as tracker events:
a form asks for its first missing slot (``requested_slot`` + ``utter_ask_<slot>``) or closes; a
custom action asks the shop's systems (:class:`~simulator.outcomes.OutcomeService`) and records
the result; a response is a bot utterance; a handoff pauses the conversation. Every event carries a
logical timestamp, so a seeded dialogue replays bit for bit.
"""

from __future__ import annotations

from typing import Any

from bot import events as ev
from bot.constants import ACTION_DEACTIVATE_LOOP_NAME, ACTION_DEFAULT_FALLBACK_NAME, REQUESTED_SLOT
from bot.domain import Domain
from bot.tracker import DialogueStateTracker
from simulator.constants import HANDOFF_ACTIONS, UTTER_ASK_PREFIX
from simulator.outcomes import Outcome, OutcomeService
from simulator.slot_filler import SlotFiller
from simulator.tasks import TaskCatalog
from simulator.user import BotAct


class ActionRunner:
    """Executes bot actions and user messages on a :class:`DialogueStateTracker`.

    :param domain: the shop's domain
    :param catalog: the shop's tasks (which slots each custom action needs)
    :param outcomes: the shop's systems
    :param record_utterances: write ``bot`` events (what the bot says); policies never read them, so
        training leaves them out for speed, transcripts keep them
    """

    def __init__(self, domain: Domain, catalog: TaskCatalog, outcomes: OutcomeService,
                 record_utterances: bool = True) -> None:
        self.record_utterances = record_utterances
        self.domain = domain
        self.catalog = catalog
        self.outcomes = outcomes
        self.filler = SlotFiller(domain)
        self.forms = {name: tuple(form.required_slots) for name, form in domain.forms.items()}
        self.action_slots: dict[str, tuple[str, ...]] = {}
        for task in catalog.tasks.values():
            self.action_slots.setdefault(task.action, task.required_slots)
        self.action_optional: dict[str, tuple[str, ...]] = {t.action: t.optional_slots for t in catalog.tasks.values()}
        self.responses = set(domain.responses)
        self.slot_defaults = {name: slot.initial_value for name, slot in domain.all_slots().items()}
        self.clock = 0.0

    def _event(self, tracker: DialogueStateTracker, event: dict[str, Any]) -> None:
        self.clock += 1.0
        event["timestamp"] = self.clock
        tracker.update(event)

    def new_tracker(self, sender_id: str = "sim") -> DialogueStateTracker:
        """A fresh conversation, as the live engine's right after its session start.

        ``action_session_start`` and ``session_started`` are left out: no policy state depends on them
        (the featurizer drops everything before a session start anyway), and replaying them costs time.
        """
        self.clock = 0.0
        tracker = DialogueStateTracker(sender_id, self.slot_defaults)
        self._event(tracker, ev.ActionExecuted("action_listen", timestamp=0.0))
        return tracker

    # -- user side ------------------------------------------------------------------------------
    def user_message(self, tracker: DialogueStateTracker, parse: dict[str, Any]) -> None:
        """A user message and the slots its parse sets (Rasa's action_extract_slots)."""
        self._event(tracker, ev.UserUttered(parse.get("text"), parse, timestamp=0.0))
        loop = tracker.active_loop_name
        filled = self.filler.fill(parse, loop, tracker.slots.get(REQUESTED_SLOT) if loop else None)
        for slot, value in filled.items():
            if tracker.slots.get(slot) != value:
                self._event(tracker, ev.SlotSet(slot, value, timestamp=0.0))

    def listen(self, tracker: DialogueStateTracker) -> None:
        self._event(tracker, ev.ActionExecuted("action_listen", timestamp=0.0))

    # -- bot side -------------------------------------------------------------------------------
    def missing_slots(self, tracker: DialogueStateTracker, action: str) -> list[str]:
        needed = self.forms.get(action) or self.action_slots.get(action, ())
        return [s for s in needed if tracker.slots.get(s) is None]

    def run(self, tracker: DialogueStateTracker, action: str) -> BotAct | None:
        """Run ``action``; what the shopper perceives (None for a silent step, such as a form closing)."""
        self._event(tracker, ev.ActionExecuted(action, timestamp=0.0))
        if action in self.forms:
            return self._run_form(tracker, action)
        if action in HANDOFF_ACTIONS:
            self._utter(tracker, "utter_handoff")
            self._event(tracker, ev.ConversationPaused(timestamp=0.0))
            self._event(tracker, ev.HandedOff("requested", timestamp=0.0))
            return BotAct(action)
        if action in self.action_slots:
            return self._run_custom(tracker, action)
        if action == ACTION_DEACTIVATE_LOOP_NAME:
            self._event(tracker, ev.ActiveLoop(None, timestamp=0.0))
            self._event(tracker, ev.SlotSet(REQUESTED_SLOT, None, timestamp=0.0))
            return BotAct(action)
        if action == ACTION_DEFAULT_FALLBACK_NAME:
            self._utter(tracker, "utter_default")
            self._event(tracker, ev.UserUtteranceReverted(timestamp=0.0))
            return BotAct(action)
        if action in self.responses:
            self._utter(tracker, action)
            asked = action[len(UTTER_ASK_PREFIX):] if action.startswith(UTTER_ASK_PREFIX) else None
            if asked is not None and asked not in self.domain.slots:
                asked = None
            return BotAct(action, asked=asked)
        return BotAct(action)

    def _utter(self, tracker: DialogueStateTracker, response: str) -> None:
        if not self.record_utterances:
            return
        variants = self.domain.responses.get(response) or [{}]
        self._event(tracker, ev.BotUttered(variants[0].get("text"), {"template": response}, timestamp=0.0))

    def _run_form(self, tracker: DialogueStateTracker, form: str) -> BotAct | None:
        if tracker.active_loop_name != form:
            self._event(tracker, ev.ActiveLoop(form, timestamp=0.0))
        missing = [s for s in self.forms[form] if tracker.slots.get(s) is None]
        if missing:
            slot = missing[0]
            if tracker.slots.get(REQUESTED_SLOT) != slot:
                self._event(tracker, ev.SlotSet(REQUESTED_SLOT, slot, timestamp=0.0))
            self._utter(tracker, UTTER_ASK_PREFIX + slot)
            return BotAct(form, asked=slot)
        self._event(tracker, ev.ActiveLoop(None, timestamp=0.0))
        self._event(tracker, ev.SlotSet(REQUESTED_SLOT, None, timestamp=0.0))
        return None

    def _run_custom(self, tracker: DialogueStateTracker, action: str) -> BotAct:
        used = {s: tracker.slots.get(s) for s in (*self.action_slots[action], *self.action_optional.get(action, ()))}
        outcome: Outcome = self.outcomes.run(action, used)
        for slot, value in outcome.slots.items():
            if slot in self.domain.slots and tracker.slots.get(slot) != value:
                self._event(tracker, ev.SlotSet(slot, value, timestamp=0.0))
        if self.record_utterances:
            self._event(tracker, ev.BotUttered(outcome.text, {"custom": {"outcome": outcome.reason}}, timestamp=0.0))
        return BotAct(action, outcome=outcome, used=used)
