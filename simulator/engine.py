"""The live dialogue engine, stepped one bot action at a time: what the simulator's shoppers talk to.

:class:`LiveEngine` drives Kefu's :class:`~bot.processor.MessageProcessor` in process, as ``kefu run`` does for
every channel: a user message is logged and ``action_extract_slots`` fills slots from the domain's mappings; a
bot action runs through ``action_for_name`` (responses through the NLG, forms with their validation, Kefu's
handoff, custom actions through the action-server protocol, here answered in process by the project's rasa-sdk
actions, see :mod:`simulator.shop`). Only the choice of the next action is the caller's (the RL agent's), not the
policy's. There is no second copy of slot filling or of what an action does.

What the shopper perceives of each bot action is read from the events it wrote (:class:`BotAct`): the slot a form
or an ``utter_ask_<slot>`` asked for, and whether a custom action's reply was one of the shop's
``failure_responses`` (``simulator.yml``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from bot import events as ev
from bot.agent import Agent
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.constants import ACTION_LISTEN_NAME, REQUESTED_SLOT
from bot.domain import Domain
from bot.nlg import TemplatedNLG
from bot.offers import OfferSettings
from bot.processor import HandoffSettings, MessageProcessor, NextAction
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore
from bot.tracker import DialogueStateTracker
from simulator.constants import UTTER_ASK_PREFIX
from simulator.outcomes import Outcome
from simulator.user import BotAct

T = TypeVar("T")
SIMULATED_CHANNEL = "simulator"
ERROR_REASON = "error"
WALL_CLOCK_KEYS = ("timestamp", "message_id")  # what differs between two runs of the same dialogue


def comparable_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events without their wall-clock fields: two runs of one seeded dialogue give equal lists."""
    return [{k: v for k, v in event.items() if k not in WALL_CLOCK_KEYS} for event in events]


class LiveEngine:
    """The processor a simulated shopper talks to (see the module docstring).

    :param domain: the shop's domain
    :param shop: the project's actions and backends (:class:`~simulator.shop.SimulatedShop`)
    :param handoff: Kefu's automatic handoff (``handoff:`` of endpoints.yml), as served
    :param nlg_seed: seed of the response-variation draw
    :param sender_id: the conversation id of every simulated dialogue
    :param offers: how a worded "yes"/"no" answers the bot's buttons (``offers:`` of endpoints.yml), as served
    """

    def __init__(self, domain: Domain, shop: Any, handoff: HandoffSettings | None = None, nlg_seed: int = 0,
                 sender_id: str = "shopper", offers: OfferSettings | None = None) -> None:
        self.domain = domain
        self.shop = shop
        self.sender_id = sender_id
        self.agent = Agent(domain=domain, nlg=TemplatedNLG(domain.responses, seed=nlg_seed))
        self.processor = MessageProcessor(self.agent, InMemoryTrackerStore(domain), InMemoryLockStore(),
                                          action_client=shop.action_client, handoff=handoff, offers=offers)
        self.output = CollectingOutputChannel()
        self.loop = asyncio.new_event_loop()
        self.slot_names = frozenset(domain.slots)
        self.forms = frozenset(domain.forms)
        self.custom_actions = frozenset(domain.actions) - self.forms  # what the action server runs

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        self.output.messages.clear()  # the events keep what the bot said; the channel's copy is not needed

        async def in_shop() -> T:
            with self.shop.serving():
                return await coro

        return self.loop.run_until_complete(in_shop())

    def close(self) -> None:
        """Close the event loop."""
        if not self.loop.is_closed():
            self.loop.close()

    # -- the shopper's side ---------------------------------------------------------------------
    def new_tracker(self) -> DialogueStateTracker:
        """A fresh conversation whose session has started (``action_session_start`` ran, as live)."""
        self.shop.begin_dialogue()
        tracker = DialogueStateTracker.from_domain(self.sender_id, self.domain)
        self._run(self.processor.update_session(tracker, self.output, self.agent))
        return tracker

    def user_message(self, tracker: DialogueStateTracker, parse: Mapping[str, Any]) -> None:
        """Log what the shopper said (its parse) and the slots ``action_extract_slots`` fills from it."""
        text = parse.get("text")
        message = UserMessage(text, self.sender_id, input_channel=SIMULATED_CHANNEL, parse_data=dict(parse))
        self._run(self.processor.record_user_message(message, dict(parse), tracker, self.output, self.agent))

    def handoff_reason(self, tracker: DialogueStateTracker) -> str | None:
        """Whether Kefu hands this shopper to a human before any prediction (a handoff intent, lasting anger)."""
        return self.processor.handoff_reason(tracker)

    def handoff_after_reply(self, tracker: DialogueStateTracker) -> str | None:
        """Whether Kefu hands this shopper to a human once the bot has answered (anger, the form just complete)."""
        return self.processor.handoff_after_reply(tracker)

    def fallback_handoff_due(self, tracker: DialogueStateTracker) -> bool:
        """Whether the fallbacks in a row hand the shopper off once the bot listens."""
        return self.processor.fallback_handoff_due(tracker)

    def hand_off(self, tracker: DialogueStateTracker, reason: str) -> None:
        """Run Kefu's own handoff (the conversation pauses)."""
        self._run(self.processor.hand_off(reason, tracker, self.output, self.agent))

    # -- the bot's side -------------------------------------------------------------------------
    def run(self, tracker: DialogueStateTracker, action: str, policy: str | None = None) -> BotAct | None:
        """Run ``action`` as the live engine would; what the shopper perceives (None: a silent step)."""
        before = len(tracker.events)
        used = dict(tracker.slots) if action in self.custom_actions else None
        self._run(self.processor.run_named_action(action, tracker, self.output, self.agent, NextAction(action, policy)))
        return perceive(action, tracker.events[before:], tracker, used, self.shop.failure_responses, self.forms)

    def listen(self, tracker: DialogueStateTracker, policy: str | None = None) -> None:
        """The bot waits for the shopper."""
        self.run(tracker, ACTION_LISTEN_NAME, policy)

    def probe(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        """What ``action`` answers a fresh conversation holding ``slots`` (its writes are rolled back later)."""
        tracker = self.new_tracker()
        for slot, value in slots.items():
            if slot in self.slot_names:
                tracker.update(ev.SlotSet(slot, value))
        act = self.run(tracker, action)
        return act.outcome if act is not None and act.outcome is not None else Outcome(True)


def perceive(action: str, events: list[dict[str, Any]], tracker: DialogueStateTracker, used: dict[str, Any] | None,
             failure_responses: frozenset[str], forms: frozenset[str]) -> BotAct | None:
    """What a shopper makes of one bot action from the events it wrote (None: nothing to answer).

    :param used: the slots when a custom action ran (None: not a custom action)
    :param failure_responses: replies that say a request failed (``simulator.yml``)
    :param forms: the domain's forms
    """
    slot_names = tracker.slot_defaults
    uttered = [e.get("metadata", {}).get("utter_action") for e in events if e.get("event") == ev.BOT]
    asked = next((u[len(UTTER_ASK_PREFIX):] for u in uttered
                  if u and u.startswith(UTTER_ASK_PREFIX) and u[len(UTTER_ASK_PREFIX):] in slot_names), None)
    if action in forms:
        if any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in events):
            return BotAct(action)
        if tracker.active_loop_name is None:
            return None  # the form completed (or was never needed): nothing for the shopper to answer
        return BotAct(action, asked=tracker.slots.get(REQUESTED_SLOT) or asked)
    if used is None:
        return BotAct(action, asked=asked)
    failed = next((u for u in uttered if u in failure_responses), None)
    if failed is None and any(e.get("event") == ev.ACTION_ERROR for e in events):
        failed = ERROR_REASON
    slots = {e["name"]: e.get("value") for e in events if e.get("event") == ev.SLOT}
    text = " ".join(str(e.get("text") or "") for e in events if e.get("event") == ev.BOT).strip()
    outcome = Outcome(failed is None and asked is None, failed or ("asked:" + asked if asked else "ok"), slots, text)
    return BotAct(action, asked=asked, outcome=outcome, used=used)
