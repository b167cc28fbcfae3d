"""The tiny fixture shop's custom action, served by a real rasa-sdk action server in the REST test."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionStartReturn(Action):
    def name(self) -> str:
        return "action_start_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        order_id, email = tracker.get_slot("order_id"), tracker.get_slot("email")
        if not order_id or not email:
            dispatcher.utter_message(text="I need your order number and email first.")
            return []
        dispatcher.utter_message(text=f"Return started for order {order_id}. A label is on its way to {email}.")
        return [SlotSet("return_status", "started")]
