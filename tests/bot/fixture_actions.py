"""Custom actions for the dialogue engine's tests, served by a real rasa-sdk action server."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection

ORDER_ID = re.compile(r"^A\d{5}$")


class ActionCheckOrder(Action):
    def name(self) -> str:
        return "action_check_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        status = "shipped" if tracker.get_slot("order_id") else "unknown"
        dispatcher.utter_message(response="utter_status", order_status=status)
        return [SlotSet("order_status", status)]


class ActionBoom(Action):
    def name(self) -> str:
        return "action_boom"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


class ActionSlow(Action):
    def name(self) -> str:
        return "action_slow"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3)
        return []


class ActionReject(Action):
    def name(self) -> str:
        return "action_reject"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        raise ActionExecutionRejection("action_reject", "not today")


class ActionPauseMe(Action):
    def name(self) -> str:
        return "action_pause_me"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        dispatcher.utter_message(text="A colleague will take over.")
        return [ConversationPaused()]


class ActionWhereDomain(Action):
    def name(self) -> str:
        return "action_where_domain"

    async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        dispatcher.utter_message(response="utter_greet")
        return [SlotSet("got_domain", sorted((domain or {}).get("forms", {})))]


class ValidateTrackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_track_form"

    def validate_order_id(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: dict[str, Any]) -> dict[str, Any]:
        if isinstance(slot_value, str) and ORDER_ID.match(slot_value):
            return {"order_id": slot_value}
        dispatcher.utter_message(text=f"'{slot_value}' is not an order number (like A12345).")
        return {"order_id": None}

    def validate_email(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: dict[str, Any]) -> dict[str, Any]:
        if isinstance(slot_value, str) and "@" in slot_value:
            return {"email": slot_value.lower()}
        return {"email": None}
