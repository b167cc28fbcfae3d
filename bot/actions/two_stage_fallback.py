"""``action_two_stage_fallback`` (Rasa semantics).

1. Low NLU confidence (``nlu_fallback``): ask the shopper to affirm the most likely intent
   ("Did you mean ...?", Yes → ``/<intent>``, No → ``/out_of_scope``).
2. They deny (``out_of_scope``): ask them to rephrase (``utter_ask_rephrase``).
3. A clear intent at any point ends the loop: the fallback turns are reverted and the clarified
   message is replayed as if it had been said at once. Two fallbacks in a row, or a second failed
   affirmation, give up with ``action_default_fallback``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from bot import events as ev
from bot.actions.action import Action
from bot.actions.loops import LoopAction
from bot.constants import (
    ACTION_DEFAULT_ASK_AFFIRMATION_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    INTENT_NLU_FALLBACK,
)

USER_INTENT_OUT_OF_SCOPE = "out_of_scope"


def last_intent_names(tracker: Any, n: int) -> list[str | None]:
    """Intents of the last ``n`` user/rewind events after the latest restart (rewinds count, give nothing)."""
    names: list[str | None] = []
    seen = 0
    for event in reversed(tracker.events_after_latest_restart()):
        if seen >= n:
            break
        if event.get("event") == ev.USER:
            names.append(((event.get("parse_data") or {}).get("intent") or {}).get("name"))
            seen += 1
        elif event.get("event") == ev.REWIND:
            seen += 1
    return names


def _latest_intent(tracker: Any) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def two_fallbacks_in_a_row(tracker: Any) -> bool:
    return last_intent_names(tracker, 2) == [INTENT_NLU_FALLBACK, INTENT_NLU_FALLBACK]


def second_affirmation_failed(tracker: Any) -> bool:
    return last_intent_names(tracker, 3) == [USER_INTENT_OUT_OF_SCOPE, INTENT_NLU_FALLBACK, USER_INTENT_OUT_OF_SCOPE]


class TwoStageFallbackAction(LoopAction):
    """The two-stage fallback loop.

    :param factory: turns an action name into an action (affirmation, rephrase, default fallback)
    """

    def __init__(self, factory: Callable[[str], Action]) -> None:
        self.factory = factory

    def name(self) -> str:
        return ACTION_TWO_STAGE_FALLBACK_NAME

    async def do(self, output_channel, nlg, tracker, domain, events_so_far):  # type: ignore[no-untyped-def]
        just_activated = any(e.get("event") == ev.ACTIVE_LOOP for e in events_so_far)
        if just_activated or _latest_intent(tracker) == INTENT_NLU_FALLBACK:
            name = ACTION_DEFAULT_ASK_AFFIRMATION_NAME
        else:
            name = ACTION_DEFAULT_ASK_REPHRASE_NAME
        return await self.factory(name).run(output_channel, nlg, tracker, domain)

    async def is_done(self, output_channel, nlg, tracker, domain, events_so_far):  # type: ignore[no-untyped-def]
        clarified = _latest_intent(tracker) not in (INTENT_NLU_FALLBACK, USER_INTENT_OUT_OF_SCOPE)
        return clarified or two_fallbacks_in_a_row(tracker) or second_affirmation_failed(tracker)

    async def deactivate(self, output_channel, nlg, tracker, domain, events_so_far):  # type: ignore[no-untyped-def]
        if two_fallbacks_in_a_row(tracker) or second_affirmation_failed(tracker):
            return await self.factory(ACTION_DEFAULT_FALLBACK_NAME).run(output_channel, nlg, tracker, domain)
        latest = next((e for e in reversed(tracker.events) if e.get("event") == ev.USER), None)
        rewinds = [ev.UserUtteranceReverted() for _ in range(fallback_messages(tracker))]
        if latest is None:
            return rewinds
        clarification = copy.deepcopy(latest)
        intent = (clarification.setdefault("parse_data", {}).setdefault("intent", {}))
        intent["confidence"] = 1.0
        clarification["timestamp"] = time.time()
        return [*rewinds, ev.ActionExecuted(ACTION_LISTEN_NAME), clarification]


def fallback_messages(tracker: Any) -> int:
    """How many user messages the fallback loop spans: the unclear one that started it and each reply since.

    One rewind per message takes the conversation back to before the unclear message, the loop's
    activation included, so the clarified message is replayed as if it had been said at once (Rasa
    gets there by collapsing the loop's repeated executions; rewinding each turn is the same history).
    """
    applied = tracker.applied_events()
    start = next((i for i in range(len(applied) - 1, -1, -1)
                  if applied[i].get("event") == ev.ACTIVE_LOOP and applied[i].get("name") == ACTION_TWO_STAGE_FALLBACK_NAME),
                 None)
    if start is None:
        return 1
    replies = sum(1 for e in applied[start:] if e.get("event") == ev.USER)
    triggered = any(e.get("event") == ev.USER for e in applied[:start])
    return replies + int(triggered)
