"""``action_handoff``: hand the conversation to a human colleague, with a summary for them."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.constants import SLOT_ORDER_ID, SLOT_ORDER_STATUS, SLOT_SENTIMENT, UTTER_HANDOFF


class ActionHandoff(Action):
    """Says ``utter_handoff`` (its variations follow the sentiment slot) and sends a ``handoff`` payload the
    channel or agent console can route on: the reason (latest intent), sentiment, and the order in question.
    The conversation is paused (Rasa's ``ConversationPaused``): Kefu's server lists it in
    ``GET /conversations?handoff=true`` until an agent calls ``POST /conversations/{id}/resume``.
    """

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response=UTTER_HANDOFF)
        latest = tracker.latest_message or {}
        dispatcher.utter_message(json_message={"handoff": {
            "sender_id": tracker.sender_id,
            "reason": (latest.get("intent") or {}).get("name"),
            "last_message": latest.get("text"),
            "sentiment": tracker.get_slot(SLOT_SENTIMENT),
            "order_id": tracker.get_slot(SLOT_ORDER_ID),
            "order_status": tracker.get_slot(SLOT_ORDER_STATUS),
        }})
        return [ConversationPaused()]
