"""Order actions: check status, cancel, start a return, refund status, change the delivery address.

Each one reads the order id and the shopper's email/phone from the tracker, calls the order service, and
answers in plain words. A wrong email/phone gets the same reply as an unknown order (the backend makes them
indistinguishable); a backend that is down gets an apology and an offer of a human, never an error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, BackendUnavailable, OrdersClient
from actions.common import HUMAN_BUTTONS, credentials, day, idempotency_key, offer_human, order_id, price
from actions.constants import (
    SLOT_CONFIRM_CANCEL,
    SLOT_EMAIL,
    SLOT_NEW_ADDRESS,
    SLOT_ORDER_ID,
    SLOT_ORDER_STATUS,
    SLOT_RETURN_REASON,
    UTTER_ASK_EMAIL,
    UTTER_ORDER_STATUS,
)

ORDER_SYSTEM = "order system"


def status_summary(order: dict[str, Any]) -> str:
    """One or two sentences about where an order is (the ``order_status`` slot)."""
    status = order["status"]
    shipment = order.get("shipment") or {}
    if status == "placed":
        return f"received on {day(order['placed_at'])}; we're waiting for the payment to be confirmed."
    if status == "paid":
        return ("paid and being packed; it should ship within a day. You can still change the delivery address "
                "or cancel it.")
    if status == "shipped":
        events = shipment.get("events") or []
        latest = events[-1] if events else None
        text = (f"on its way with {shipment.get('carrier')} (tracking number {shipment.get('tracking_number')}: "
                f"{shipment.get('tracking_url')}).")
        if latest:
            text += f" Latest update: {latest['description']} ({latest['location']}, {day(latest['at'])})."
        if shipment.get("delayed"):
            text += (f" It was due on {day(shipment.get('estimated_delivery'))} and is running late. "
                     "I'm sorry about that!")
        else:
            text += f" Expected delivery: {day(shipment.get('estimated_delivery'))}."
        return text
    if status == "delivered":
        policy = order.get("return_policy") or {}
        text = f"delivered on {day(order.get('delivered_at'))}."
        if policy.get("eligible"):
            text += f" You can return it until {day(policy.get('deadline'))}."
        return text
    if status == "returned":
        refunds = order.get("refunds") or []
        return "returned" + (f"; your refund is {refunds[-1]['status']}." if refunds else ".")
    if status == "cancelled":
        refunds = order.get("refunds") or []
        return f"cancelled on {day(order.get('cancelled_at'))}" + (
            f"; your refund of {price(refunds[-1]['amount'])} is {refunds[-1]['status']}." if refunds else ".")
    return status


def not_found(dispatcher: CollectingDispatcher, oid: str) -> list[EventType]:
    """Unknown order or wrong email/phone: ask again, without saying which of the two it was."""
    dispatcher.utter_message(
        text=(f"I couldn't find an order {oid} with that email address or phone number. Could you double-check "
              "both? Order numbers look like A12345."))
    return [SlotSet(SLOT_ORDER_ID, None), SlotSet(SLOT_EMAIL, None)]


class _OrderAction(Action, ABC):
    """Shared preconditions: an order id and a contact detail, else ask for them."""

    @abstractmethod
    def name(self) -> str:
        """Abstract, so the action server does not register this base class."""

    def _inputs(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> tuple[str, str | None, str | None] | None:
        oid = order_id(tracker)
        email, phone = credentials(tracker)
        if oid is None:
            dispatcher.utter_message(text="Which order is it about? Order numbers look like A12345.")
            return None
        if not email and not phone:
            dispatcher.utter_message(response=UTTER_ASK_EMAIL)
            return None
        return oid, email, phone


class ActionCheckOrderStatus(_OrderAction):
    def name(self) -> str:
        return "action_check_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        try:
            order = await OrdersClient.from_settings().get_order(oid, email, phone)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM)
            return [SlotSet(SLOT_ORDER_STATUS, None)]
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            dispatcher.utter_message(text=f"I couldn't look up order {oid}: {exc.message}")
            return []
        summary = status_summary(order)
        dispatcher.utter_message(response=UTTER_ORDER_STATUS, order_id=oid, order_status=summary)
        return [SlotSet(SLOT_ORDER_STATUS, order["status"])]


class ActionCancelOrder(_OrderAction):
    def name(self) -> str:
        return "action_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        if tracker.get_slot(SLOT_CONFIRM_CANCEL) is False:
            dispatcher.utter_message(text=f"Okay, I haven't touched order {oid}; it stays as it is.")
            return [SlotSet(SLOT_CONFIRM_CANCEL, None)]
        key = idempotency_key(tracker, self.name(), oid)
        try:
            result = await OrdersClient.from_settings().cancel(oid, email, phone, key, reason="requested in chat")
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM)
            return [SlotSet(SLOT_CONFIRM_CANCEL, None)]
        except BackendRejected as exc:
            events: list[EventType] = [SlotSet(SLOT_CONFIRM_CANCEL, None)]
            if exc.code == "order_not_found":
                return events + not_found(dispatcher, oid)
            if exc.code == "already_cancelled":
                dispatcher.utter_message(text=f"Order {oid} is already cancelled; there's nothing more to do.")
                return events + [SlotSet(SLOT_ORDER_STATUS, "cancelled")]
            if exc.code == "not_cancellable":
                status = exc.details.get("status", "shipped")
                dispatcher.utter_message(
                    text=(f"Order {oid} has already {status}, so I can't cancel it anymore. Once it has arrived you "
                          "can send it back: just tell me you'd like to return it."))
                return events + [SlotSet(SLOT_ORDER_STATUS, status)]
            dispatcher.utter_message(text=f"I couldn't cancel order {oid}: {exc.message}")
            return events
        refund = result.get("refund")
        text = f"Done: order {oid} is cancelled."
        if refund:
            text += (f" Your refund of {price(refund['amount'])} goes back to your {refund['method']} "
                     f"by {day(refund.get('expected_by'))}.")
        dispatcher.utter_message(text=text)
        return [SlotSet(SLOT_ORDER_STATUS, "cancelled"), SlotSet(SLOT_CONFIRM_CANCEL, None)]


class ActionStartReturn(_OrderAction):
    def name(self) -> str:
        return "action_start_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        reason = str(tracker.get_slot(SLOT_RETURN_REASON) or "").strip() or "not specified"
        key = idempotency_key(tracker, self.name(), oid, reason)
        try:
            result = await OrdersClient.from_settings().start_return(oid, email, phone, reason, key)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            replies = {
                "return_window_closed": f"I'm sorry, the return window for order {oid} has closed "
                                        f"({exc.message.split('closed on ')[-1].rstrip('.')}). A colleague can check "
                                        "whether a warranty claim is possible.",
                "not_delivered": f"Order {oid} hasn't arrived yet, so it can't be returned. If it hasn't shipped, "
                                 "I can cancel it instead.",
                "return_already_open": f"There's already an open return for order {oid}; you'll get the refund "
                                       "once we receive the parcel.",
                "already_returned": f"Order {oid} has already been returned.",
                "order_cancelled": f"Order {oid} was cancelled, so there's nothing to send back.",
            }
            buttons = HUMAN_BUTTONS[:1] if exc.code == "return_window_closed" else None
            dispatcher.utter_message(text=replies.get(exc.code, f"I couldn't start the return: {exc.message}"),
                                     buttons=buttons)
            return []
        request = result["return"]
        dispatcher.utter_message(
            text=(f"Your return for order {oid} is open (return number {request['return_id']}). Print your free "
                  f"label here: {request['label_url']} and drop the parcel off by {day(request['drop_off_by'])}. "
                  f"Your refund of {price(request['refund_amount'])} follows as soon as we receive it."))
        return [SlotSet(SLOT_ORDER_STATUS, "return requested")]


class ActionRefundStatus(_OrderAction):
    def name(self) -> str:
        return "action_refund_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        try:
            result = await OrdersClient.from_settings().refund_status(oid, email, phone)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            dispatcher.utter_message(text=f"I couldn't check the refund for order {oid}: {exc.message}")
            return []
        refunds = result.get("refunds") or []
        if refunds:
            refund = refunds[-1]
            if refund["status"] == "completed":
                text = (f"Your refund of {price(refund['amount'])} for order {oid} was paid back to your "
                        f"{refund['method']} on {day(refund['completed_at'])}.")
            else:
                text = (f"Your refund of {price(refund['amount'])} for order {oid} is {refund['status']}; it should "
                        f"reach your {refund['method']} by {day(refund.get('expected_by'))}.")
        elif result.get("open_return"):
            open_return = result["open_return"]
            text = (f"We haven't received your return for order {oid} yet (return {open_return['return_id']}). "
                    f"The refund of {price(open_return['refund_amount'])} is issued as soon as it arrives.")
        else:
            text = f"There's no refund on order {oid}: it is {result['order_status']}."
        dispatcher.utter_message(text=text)
        return [SlotSet(SLOT_ORDER_STATUS, result["order_status"])]


class ActionChangeAddress(_OrderAction):
    def name(self) -> str:
        return "action_change_address"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        address = str(tracker.get_slot(SLOT_NEW_ADDRESS) or "").strip()
        key = idempotency_key(tracker, self.name(), oid, address)
        try:
            result = await OrdersClient.from_settings().change_address(oid, email, phone, address, key)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            if exc.code == "already_shipped":
                dispatcher.utter_message(
                    text=(f"Order {oid} has already {exc.details.get('status', 'shipped')}, so I can't change the "
                          "address from here. A colleague can ask the carrier to redirect it."),
                    buttons=HUMAN_BUTTONS[:1])
                return []
            if exc.code == "invalid_address":
                dispatcher.utter_message(text="That address looks incomplete. Please give me the street and house "
                                              "number, the postcode and the city.")
                return [SlotSet(SLOT_NEW_ADDRESS, None), FollowupAction("address_form")]
            dispatcher.utter_message(text=f"I couldn't change the address: {exc.message}")
            return []
        dispatcher.utter_message(text=f"Done: order {oid} will now be delivered to {result['shipping_address']}.")
        return [SlotSet(SLOT_ORDER_STATUS, result["status"])]
