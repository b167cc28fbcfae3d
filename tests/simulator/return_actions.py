"""The tiny fixture shop's custom actions: the simulator runs them in process, the REST test on a real rasa-sdk
action server. The shop's "backend" is the table below (which order belongs to whom, which cannot be returned)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# order id -> (email on the order, why a return is refused or None)
ORDERS = {
    "A10001": ("ann@example.com", "it has not been delivered yet"),
    "A10002": ("bob@example.com", None),
    "A10003": ("cat@example.com", None),
    "A10004": ("dan@example.com", None),
}


class ActionStartReturn(Action):
    def name(self) -> str:
        return "action_start_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        order_id, email = tracker.get_slot("order_id"), tracker.get_slot("email")
        if not order_id or not email:
            dispatcher.utter_message(text="I need your order number and email first.")
            return []
        owner, refused = ORDERS.get(str(order_id), (None, None))
        if owner != email:
            dispatcher.utter_message(response="utter_return_failed", reason="I can't find that order")
            return []
        if refused:
            dispatcher.utter_message(response="utter_return_failed", reason=refused)
            return []
        dispatcher.utter_message(text=f"Return started for order {order_id}. A label is on its way to {email}.")
        return [SlotSet("return_status", "started")]


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        dispatcher.utter_message(response="utter_handoff")
        return [ConversationPaused()]
