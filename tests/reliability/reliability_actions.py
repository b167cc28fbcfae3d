"""Custom actions of the fault tests' project, served by ``kefu run actions --actions reliability_actions``."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

ORDER_REPLY = "Order A1 has shipped."
WAIT_REPLY = "Thanks for waiting."
WAIT_SECONDS = 0.5  # a slow backend that still answers in time
HANG_SECONDS = 60.0  # far longer than the action_endpoint timeout the tests configure


class ActionCheckOrder(Action):
    def name(self) -> str:
        return "action_check_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=ORDER_REPLY)
        return []


class ActionSlowCheck(Action):
    """A backend that hangs: answers only after ``HANG_SECONDS``."""

    def name(self) -> str:
        return "action_slow_check"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        await asyncio.sleep(HANG_SECONDS)
        dispatcher.utter_message(text="too late")
        return []


class ActionWaitReply(Action):
    """A slow backend that answers after ``WAIT_SECONDS``: keeps a turn in flight for a while."""

    def name(self) -> str:
        return "action_wait_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        await asyncio.sleep(WAIT_SECONDS)
        dispatcher.utter_message(text=WAIT_REPLY)
        return []
