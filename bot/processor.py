"""The turn loop: one user message in, the bot's replies out, the conversation saved.

For each message (Rasa's ``MessageProcessor``)::

    parse (payload syntax first, else NLU; sentiment comes along)
    lock(conversation) →
      retrieve tracker → start a session if none or expired (action_session_start)
      → log the user event → action_extract_slots (slot mappings; the sentiment slot)
      → unless paused: handoff triggers (persistent anger) → predict and run actions until
        action_listen (at most ``max_predictions``) → handoff trigger (repeated fallbacks)
      → save tracker
    → release

Actions never raise into the turn: a rejection becomes ``action_execution_rejected`` (and another
action is predicted), a dead or broken action server becomes a polite message to the shopper plus a
``kefu_action_error`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import events as ev
from bot import turn_timing
from bot.actions import (
    Action,
    ActionClient,
    ActionExecutionRejection,
    ActionHandoff,
    ActionServerError,
    action_for_name,
    bot_utterance,
    message_of,
)
from bot.actions.action import ActionSessionStart
from bot.actions.handoff import REASON_ANGER, REASON_FALLBACKS, REASON_REQUESTED
from bot.agent import Agent
from bot.channels.base import CollectingOutputChannel, OutputChannel, UserMessage
from bot.constants import (
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_EXTRACT_SLOTS_NAME,
    ACTION_HANDOFF_NAME,
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    INTENT_NLU_FALLBACK,
    INTENT_RESTART,
    SENTIMENT_SLOT,
)
from bot.domain import Domain
from bot.events import EventDict
from bot.interpreter import parse_payload
from bot.message_guard import MessageGuard
from bot.nlu_batcher import NLUBatcher
from bot.offers import OfferSettings, answer_to_offer
from bot.parse_result import empty_parse_result
from bot.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

DEFAULT_MAX_PREDICTIONS = 10
EXTERNAL_MESSAGE_PREFIX = "EXTERNAL: "
POLITE_ERROR_TEXT = (
    "Sorry, something went wrong on our side and I couldn't finish that. Please try again in a moment."
)
UTTER_ACTION_ERROR = "utter_kefu_action_error"


class TrackerStoreLike(Protocol):
    """What the processor needs from a tracker store (``bot.stores.TrackerStore``)."""

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None: ...
    async def save(self, tracker: DialogueStateTracker) -> None: ...
    async def delete(self, sender_id: str) -> bool: ...
    async def keys(self) -> list[str]: ...


class LockStoreLike(Protocol):
    """What the processor needs from a lock store (``bot.stores.LockStore``)."""

    def lock(self, sender_id: str) -> AbstractAsyncContextManager[None]: ...


@dataclass(frozen=True)
class HandoffSettings:
    """When Kefu hands a conversation to a human by itself (``handoff:`` in endpoints.yml).

    :param angry_turns: hand off when the ``sentiment`` slot was ``angry`` for this many user turns
        in a row (0: never)
    :param max_fallbacks: hand off after this many fallback turns in a row (0: never)
    :param intents: intents that always hand off (the policy may also predict a handoff action)
    :param angry_label: the sentiment label that counts as anger
    """

    angry_turns: int = 3
    max_fallbacks: int = 3
    intents: tuple[str, ...] = ()
    angry_label: str = "angry"

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> HandoffSettings:
        config = config or {}
        return cls(
            angry_turns=int(config.get("angry_turns", cls.angry_turns)),
            max_fallbacks=int(config.get("max_fallbacks", cls.max_fallbacks)),
            intents=tuple(str(i) for i in config.get("intents") or ()),
            angry_label=str(config.get("angry_label", cls.angry_label)),
        )


@dataclass
class NextAction:
    """The action to run next and who chose it."""

    name: str
    policy: str | None = None
    confidence: float | None = None
    events: list[EventDict] = field(default_factory=list)
    prediction: Any = None  # the policy's full prediction (votes of every policy), when there was one


def _since_last_reset(events: list[EventDict]) -> list[EventDict]:
    """Events after the latest session start, restart, resume or handoff."""
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") in (ev.SESSION_STARTED, ev.RESTART, ev.RESUME, ev.HANDOFF):
            return events[index + 1:]
    return list(events)


def _turns(events: list[EventDict]) -> list[list[EventDict]]:
    """Split events into user turns (each starts with a ``user`` event)."""
    turns: list[list[EventDict]] = []
    for event in events:
        if event.get("event") == ev.USER:
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    return turns


def anger_streak(tracker: DialogueStateTracker, angry_label: str = "angry") -> int:
    """How many of the latest user turns in a row ended with the sentiment slot at ``angry_label``."""
    streak = 0
    value: Any = None
    values: list[Any] = []
    for turn in _turns(_since_last_reset(tracker.events)):
        for event in turn:
            if event.get("event") == ev.SLOT and event.get("name") == SENTIMENT_SLOT:
                value = event.get("value")
        values.append(value)
    for value in reversed(values):
        if value != angry_label:
            break
        streak += 1
    return streak


def _is_fallback_turn(turn: list[EventDict]) -> bool:
    intent = ((turn[0].get("parse_data") or {}).get("intent") or {}).get("name")
    if intent == INTENT_NLU_FALLBACK:
        return True
    two_stage_running = False
    for event in turn:
        if event.get("event") == ev.ACTION:
            if event.get("name") == ACTION_DEFAULT_FALLBACK_NAME:
                return True
            if event.get("name") == ACTION_TWO_STAGE_FALLBACK_NAME:
                two_stage_running = True
        elif event.get("event") == ev.ACTIVE_LOOP and two_stage_running and event.get("name") is None:
            two_stage_running = False
    return two_stage_running


def fallback_streak(tracker: DialogueStateTracker) -> int:
    """How many of the latest user turns in a row the bot could not understand."""
    streak = 0
    for turn in reversed(_turns(_since_last_reset(tracker.events))):
        if not _is_fallback_turn(turn):
            break
        streak += 1
    return streak


def fill_selected_responses(selector: dict[str, Any], domain: Domain) -> None:
    """Put the domain's variations of each chosen ``utter_faq/<sub-intent>`` under ``responses`` (Rasa's shape)."""
    for key, selected in selector.items():
        response = selected.get("response") if isinstance(selected, dict) else None
        if key != "all_retrieval_intents" and isinstance(response, dict) and response.get("responses") is None:
            variations = domain.responses.get(str(response.get("utter_action")))
            response["responses"] = variations or [{"text": response.get("intent_response_key")}]


class MessageProcessor:
    """Runs turns against a tracker store, a lock store and the current agent.

    :param agent: the loaded model (replace ``processor.agent`` to hot-swap)
    :param tracker_store: where conversations live
    :param lock_store: one turn per conversation at a time
    :param action_client: the action server client (None: no custom actions)
    :param handoff: automatic handoff settings
    :param offers: how a worded "yes"/"no" answers the bot's last buttons (:mod:`bot.offers`; default off)
    :param max_predictions: most actions predicted after one user message
    :param guard: per-sender rate limit and size cap for channel messages (None: none)
    :param nlu_batcher: parses texts of concurrent turns in shared batches (None: one worker-thread
        call per message)
    """

    def __init__(
        self,
        agent: Agent,
        tracker_store: TrackerStoreLike,
        lock_store: LockStoreLike,
        action_client: ActionClient | None = None,
        handoff: HandoffSettings | None = None,
        max_predictions: int = DEFAULT_MAX_PREDICTIONS,
        guard: MessageGuard | None = None,
        nlu_batcher: NLUBatcher | None = None,
        offers: OfferSettings | None = None,
    ) -> None:
        self.agent = agent
        self.nlu_batcher = nlu_batcher
        self.tracker_store = tracker_store
        self.lock_store = lock_store
        self.action_client = action_client
        self.handoff = handoff or HandoffSettings()
        self.offers = offers or OfferSettings()
        self.max_predictions = max_predictions
        self.guard = guard
        self.prediction_listeners: list[Callable[[DialogueStateTracker, NextAction], None]] = []

    @property
    def domain(self) -> Any:
        return self.agent.domain

    # -- parsing ----------------------------------------------------------------------------------
    async def parse_message(self, text: str | None, agent: Agent | None = None) -> dict[str, Any]:
        """Rasa's ``/model/parse``: payload syntax first, else the NLU model (in a worker thread)."""
        agent = agent or self.agent
        text = text or ""
        payload = parse_payload(text) if text.startswith("/") else None
        if payload is not None:
            return dict(payload)
        if agent.interpreter is None or not text.strip():
            return dict(empty_parse_result(text))
        if self.nlu_batcher is not None:
            result = await self.nlu_batcher.parse(agent.interpreter, text)
        else:
            with turn_timing.timed("nlu"):
                result = dict(await asyncio.to_thread(agent.interpreter.parse, text))
        result.setdefault("text", text)
        if result.get("response_selector"):
            fill_selected_responses(result["response_selector"], agent.domain)
        return result

    # -- trackers ---------------------------------------------------------------------------------
    def new_tracker(self, sender_id: str, agent: Agent | None = None) -> DialogueStateTracker:
        return DialogueStateTracker.from_domain(sender_id, (agent or self.agent).domain)

    async def get_tracker(self, sender_id: str) -> DialogueStateTracker | None:
        """The stored conversation (slots defaulted from the current domain), or None."""
        tracker = await self.tracker_store.retrieve(sender_id)
        if tracker is None:
            return None
        return DialogueStateTracker.from_domain(sender_id, self.domain, tracker.events)

    async def get_or_create_tracker(self, sender_id: str, agent: Agent | None = None) -> DialogueStateTracker:
        """The conversation a turn continues (a masking store puts the live slot values back)."""
        retrieve = getattr(self.tracker_store, "retrieve_live", self.tracker_store.retrieve)
        tracker = await retrieve(sender_id)
        if tracker is None:
            return self.new_tracker(sender_id, agent)
        return DialogueStateTracker.from_domain(sender_id, (agent or self.agent).domain, tracker.events)

    def _session_expired(self, tracker: DialogueStateTracker, agent: Agent) -> bool:
        minutes = agent.domain.session_expiration_time
        if not minutes or minutes <= 0:
            return False
        user = next((e for e in reversed(tracker.events) if e.get("event") == ev.USER), None)
        if user is None:
            return False
        return (time.time() - float(user.get("timestamp") or 0)) / 60.0 > minutes

    async def update_session(self, tracker: DialogueStateTracker, output_channel: OutputChannel, agent: Agent,
                             metadata: dict[str, Any] | None = None) -> None:
        """Start a session (``action_session_start``) for a new conversation or one whose session expired."""
        if not tracker.applied_events() or self._session_expired(tracker, agent):
            await self._run_action(ActionSessionStart(metadata), tracker, output_channel, agent,
                                   NextAction(ACTION_SESSION_START_NAME))

    # -- the turn ---------------------------------------------------------------------------------
    def admit(self, message: UserMessage) -> None:
        """Apply the rate limit and size cap; raises :class:`MessageRejectedError` (429 / 413)."""
        if self.guard is not None:
            self.guard.check(message.sender_id, message.text)

    async def handle_message(self, message: UserMessage, output_channel: OutputChannel | None = None,
                             *, admitted: bool = False) -> DialogueStateTracker:
        """Run one user turn and return the saved tracker (replies went to ``output_channel``).

        Every channel comes through here, so the guard applies to all of them (``admitted``: the caller
        already called :meth:`admit`).
        """
        if not admitted:
            self.admit(message)
        output_channel = output_channel or CollectingOutputChannel()
        agent = self.agent
        parse_data = message.parse_data or await self.parse_message(message.text, agent)
        waiting = time.perf_counter()
        async with self.lock_store.lock(message.sender_id):
            turn_timing.record("lock", waiting)
            with turn_timing.timed("tracker"):
                tracker = await self.get_or_create_tracker(message.sender_id, agent)
            await self.update_session(tracker, output_channel, agent, message.metadata or None)
            await self.record_user_message(message, parse_data, tracker, output_channel, agent)
            await self._respond(tracker, output_channel, agent)
            with turn_timing.timed("save"):
                await self.tracker_store.save(tracker)
        return tracker

    async def log_message(self, message: UserMessage) -> DialogueStateTracker:
        """Record a user message (and its slots) without predicting (``POST .../messages``)."""
        agent = self.agent
        parse_data = message.parse_data or await self.parse_message(message.text, agent)
        output_channel = CollectingOutputChannel()
        async with self.lock_store.lock(message.sender_id):
            tracker = await self.get_or_create_tracker(message.sender_id, agent)
            await self.update_session(tracker, output_channel, agent, message.metadata or None)
            await self.record_user_message(message, parse_data, tracker, output_channel, agent)
            await self.tracker_store.save(tracker)
        return tracker

    async def trigger_intent(self, sender_id: str, intent: str, entities: Any,
                             output_channel: OutputChannel | None = None) -> DialogueStateTracker:
        """Act as if the user sent ``intent`` (``POST .../trigger_intent``; Rasa's external events)."""
        if isinstance(entities, dict):
            entity_list = [{"entity": k, "value": v} for k, v in entities.items()]
        else:
            entity_list = list(entities or [])
        parse_data = {
            "text": f"{EXTERNAL_MESSAGE_PREFIX}{intent}",
            "intent": {"name": intent, "confidence": 1.0},
            "intent_ranking": [{"name": intent, "confidence": 1.0}],
            "entities": entity_list,
        }
        message = UserMessage(parse_data["text"], sender_id, input_channel="external", parse_data=parse_data)
        return await self.handle_message(message, output_channel)

    async def record_user_message(self, message: UserMessage, parse_data: dict[str, Any],
                                  tracker: DialogueStateTracker, output_channel: OutputChannel, agent: Agent) -> None:
        """Log the user's message and run ``action_extract_slots`` on it (the first half of every turn).

        A worded "yes" or "no" to the bot's last buttons is read as that button first (``offers``)."""
        parse_data = answer_to_offer(parse_data, tracker.events, self.offers) or parse_data
        tracker.update(ev.UserUttered(
            message.text, parse_data, input_channel=message.input_channel, message_id=message.message_id,
            metadata=message.metadata,
        ))
        extraction = action_for_name(ACTION_EXTRACT_SLOTS_NAME, agent.domain, self.action_client)
        try:
            with turn_timing.timed("actions"):
                events = await extraction.run(output_channel, agent.nlg, tracker, agent.domain)
        except Exception as exc:  # slot extraction must never lose the user's message
            logger.warning("slot extraction failed: %s", exc)
            events = []
        await self._send_bot_messages(events, tracker, output_channel)
        for event in events:
            tracker.update(dict(event, timestamp=time.time()))

    @staticmethod
    def _should_handle(tracker: DialogueStateTracker) -> bool:
        return not tracker.paused or tracker.latest_intent == INTENT_RESTART

    async def _respond(self, tracker: DialogueStateTracker, output_channel: OutputChannel, agent: Agent) -> None:
        if not self._should_handle(tracker):
            logger.debug("conversation %s is paused (handed off?): message recorded, no reply", tracker.sender_id)
            return
        trigger = self.handoff_reason(tracker)
        if trigger is not None:
            await self.hand_off(trigger, tracker, output_channel, agent)
            return
        await self._prediction_loop(tracker, output_channel, agent, self.handoff_after_reply(tracker))
        if self.fallback_handoff_due(tracker):
            await self.hand_off(REASON_FALLBACKS, tracker, output_channel, agent)

    def handoff_reason(self, tracker: DialogueStateTracker) -> str | None:
        """Why the latest user message hands the conversation to a human before any prediction (None: it does not)."""
        if tracker.latest_intent in self.handoff.intents:
            return REASON_REQUESTED
        if self._angry_for_long(tracker) and not self.form_complete(tracker):
            return REASON_ANGER
        return None

    def handoff_after_reply(self, tracker: DialogueStateTracker) -> str | None:
        """Why the conversation goes to a human once the bot has answered this message (None: it does not).

        An angry shopper whose message gave the last thing the active form needs (the order number and email of
        "where is my order?") first hears the answer, then meets the colleague."""
        if tracker.latest_intent in self.handoff.intents or not self._angry_for_long(tracker):
            return None
        return REASON_ANGER if self.form_complete(tracker) else None

    def _angry_for_long(self, tracker: DialogueStateTracker) -> bool:
        return self.handoff.angry_turns > 0 and anger_streak(tracker, self.handoff.angry_label) >= self.handoff.angry_turns

    def form_complete(self, tracker: DialogueStateTracker) -> bool:
        """Whether the active form has every slot it requires (it submits on its next run)."""
        form = self.domain.forms.get(tracker.active_loop_name) if tracker.active_loop_name else None
        required = form.required_slots if form is not None else []
        return bool(required) and all(tracker.get_slot(slot) is not None for slot in required)

    def fallback_handoff_due(self, tracker: DialogueStateTracker) -> bool:
        """Whether the fallback turns in a row, once the bot listens, hand the conversation off."""
        return (self.handoff.max_fallbacks > 0 and not tracker.paused
                and fallback_streak(tracker) >= self.handoff.max_fallbacks)

    async def hand_off(self, reason: str, tracker: DialogueStateTracker, output_channel: OutputChannel,
                       agent: Agent) -> None:
        """Run Kefu's handoff for ``reason`` (the conversation pauses)."""
        await self._run_action(ActionHandoff(reason), tracker, output_channel, agent,
                               NextAction(ACTION_HANDOFF_NAME, "KefuHandoff", 1.0))

    async def run_named_action(self, name: str, tracker: DialogueStateTracker, output_channel: OutputChannel,
                               agent: Agent, next_action: NextAction | None = None) -> bool:
        """Run the action called ``name`` as a prediction would; returns whether to predict another after it."""
        action = action_for_name(name, agent.domain, self.action_client)
        return await self._run_action(action, tracker, output_channel, agent, next_action or NextAction(name))

    async def _prediction_loop(self, tracker: DialogueStateTracker, output_channel: OutputChannel, agent: Agent,
                               handoff_instead_of_listening: str | None = None) -> None:
        """Predict and run actions until the bot listens; with ``handoff_instead_of_listening`` (a reason), the
        bot hands the conversation off where it would have listened (it has answered; a person takes over)."""
        should_predict = True
        steps = 0
        while should_predict and self._should_handle(tracker) and steps < self.max_predictions:
            with turn_timing.timed("policy"):
                next_action = self.predict_next_action(tracker, agent)
            if handoff_instead_of_listening is not None and next_action.name == ACTION_LISTEN_NAME:
                await self.hand_off(handoff_instead_of_listening, tracker, output_channel, agent)
                return
            for listener in self.prediction_listeners:
                listener(tracker, next_action)
            for event in next_action.events:
                tracker.update(event)
            should_predict = await self.run_named_action(next_action.name, tracker, output_channel, agent, next_action)
            steps += 1
        if should_predict and steps >= self.max_predictions:
            logger.warning("conversation %s: stopped after %d actions without action_listen (check your stories)",
                           tracker.sender_id, steps)

    def predict_next_action(self, tracker: DialogueStateTracker, agent: Agent | None = None) -> NextAction:
        """The followup action if one is set, else the policy's prediction (action_listen without one)."""
        agent = agent or self.agent
        followup = tracker.followup_action
        if followup:
            tracker.followup_action = None
            if followup in agent.domain.action_names:
                return NextAction(followup, "FollowupAction", 1.0)
            logger.warning("followup action '%s' is not in the domain; ignoring it", followup)
        if agent.policy is None:
            return NextAction(ACTION_LISTEN_NAME, None, None)
        prediction = agent.policy.predict(tracker, agent.domain)
        name = getattr(prediction, "action_name", None) or ACTION_LISTEN_NAME
        events = list(getattr(prediction, "events", []) or []) + list(getattr(prediction, "optional_events", []) or [])
        return NextAction(name, getattr(prediction, "policy_name", None), getattr(prediction, "confidence", None),
                          events, prediction)

    async def _send_bot_messages(self, events: Iterable[EventDict], tracker: DialogueStateTracker,
                                 output_channel: OutputChannel) -> None:
        for event in events:
            if event.get("event") == ev.BOT:
                await output_channel.send_response(tracker.sender_id, message_of(event))

    def _error_events(self, action_name: str, message: str, tracker: DialogueStateTracker,
                      output_channel: OutputChannel, agent: Agent) -> list[EventDict]:
        reply = agent.nlg.generate(UTTER_ACTION_ERROR, tracker.slots, output_channel.name()) if agent.nlg else None  # type: ignore[union-attr]
        reply = reply or {"text": POLITE_ERROR_TEXT}
        reply["utter_action"] = UTTER_ACTION_ERROR
        return [bot_utterance(reply), ev.ActionError(action_name, message)]

    async def _run_action(self, action: Action, tracker: DialogueStateTracker, output_channel: OutputChannel,
                          agent: Agent, next_action: NextAction) -> bool:
        """Run one action and log it; returns whether to predict another action after it."""
        name = action.name()
        started = time.perf_counter()
        try:
            events = await action.run(output_channel, agent.nlg, tracker, agent.domain)
        except ActionExecutionRejection as exc:
            logger.debug("action '%s' rejected: %s", name, exc.message)
            tracker.update(ev.ActionExecutionRejected(name, next_action.policy, next_action.confidence))
            return name != ACTION_LISTEN_NAME
        except ActionServerError as exc:
            logger.error("%s", exc)
            events = self._error_events(name, exc.message, tracker, output_channel, agent)
        except Exception as exc:  # a bug in an action must not take the conversation down
            logger.exception("action '%s' failed", name)
            events = self._error_events(name, f"{type(exc).__name__}: {exc}", tracker, output_channel, agent)
        finally:
            turn_timing.record("actions", started)
        if any(e.get("event") == ev.PAUSE for e in events) and not any(e.get("event") == ev.HANDOFF for e in events):
            index = next(i for i, e in enumerate(events) if e.get("event") == ev.PAUSE)
            events = events[:index] + [ev.HandedOff(REASON_REQUESTED)] + events[index:]
        await self._send_bot_messages(events, tracker, output_channel)
        if not any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in events):
            tracker.update(ev.ActionExecuted(name, next_action.policy, next_action.confidence))
        for event in events:
            tracker.update(dict(event, timestamp=time.time()))
        return name not in (ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME)

    # -- conversations API ------------------------------------------------------------------------
    async def append_events(self, sender_id: str, events: list[EventDict], replace: bool = False
                            ) -> DialogueStateTracker:
        """Append events to (or, with ``replace``, replace the events of) a conversation."""
        async with self.lock_store.lock(sender_id):
            if replace:
                tracker = self.new_tracker(sender_id)
            else:
                tracker = await self.get_or_create_tracker(sender_id)
            for event in events:
                tracker.update(event)
            await self.tracker_store.save(tracker)
        return tracker

    async def resume(self, sender_id: str) -> DialogueStateTracker | None:
        """Hand a paused (handed-off) conversation back to the bot."""
        async with self.lock_store.lock(sender_id):
            tracker = await self.tracker_store.retrieve(sender_id)
            if tracker is None:
                return None
            tracker = DialogueStateTracker.from_domain(sender_id, self.domain, tracker.events)
            tracker.update(ev.ConversationResumed())
            await self.tracker_store.save(tracker)
        return tracker

    async def delete(self, sender_id: str) -> bool:
        async with self.lock_store.lock(sender_id):
            return await self.tracker_store.delete(sender_id)

    async def handoff_queue(self) -> list[dict[str, Any]]:
        """Conversations waiting for a human, oldest handoff first."""
        queue: list[dict[str, Any]] = []
        for sender_id in await self.tracker_store.keys():
            tracker = await self.tracker_store.retrieve(sender_id)
            if tracker is None or not tracker.is_handed_off:
                continue
            handoff = next((e for e in reversed(tracker.events) if e.get("event") == ev.HANDOFF), {})
            queue.append({
                "sender_id": sender_id,
                "reason": tracker.handoff_reason,
                "since": handoff.get("timestamp"),
                "latest_message": tracker.latest_message.get("text"),
                "latest_event_time": tracker.latest_event_time,
                "sentiment": tracker.get_slot(SENTIMENT_SLOT),
            })
        queue.sort(key=lambda item: item.get("since") or 0)
        return queue
