"""Order actions: check status, cancel, start a return, refund status, change the delivery address.

Each one reads the order id and the shopper's email/phone from the tracker, calls the order service, and
answers in plain words: a domain response (English, with a Chinese variation for the ``language`` slot) whose
placeholders it fills in the shopper's language. A wrong email/phone gets the same reply as an unknown order (the
backend makes them indistinguishable); a backend that is down gets an apology and an offer of a human, never an
error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, BackendUnavailable, orders_client
from actions.common import credentials, idempotency_key, offer_human, order_id, price
from actions.constants import (
    SLOT_CONFIRM_CANCEL,
    SLOT_EMAIL,
    SLOT_NEW_ADDRESS,
    SLOT_ORDER_ID,
    SLOT_ORDER_STATUS,
    SLOT_RETURN_REASON,
    UTTER_ADDRESS_ALREADY_SHIPPED,
    UTTER_ADDRESS_CHANGE_FAILED,
    UTTER_ADDRESS_CHANGED,
    UTTER_ADDRESS_INVALID,
    UTTER_ALREADY_CANCELLED,
    UTTER_ALREADY_RETURNED,
    UTTER_ASK_EMAIL,
    UTTER_CANCEL_DECLINED,
    UTTER_CANCEL_FAILED,
    UTTER_CANNOT_CANCEL,
    UTTER_NO_REFUND,
    UTTER_ORDER_CANCELLED,
    UTTER_ORDER_CANCELLED_REFUND,
    UTTER_ORDER_LOOKUP_FAILED,
    UTTER_ORDER_NOT_FOUND,
    UTTER_ORDER_STATUS,
    UTTER_REFUND_AWAITING_RETURN,
    UTTER_REFUND_CHECK_FAILED,
    UTTER_REFUND_COMPLETED,
    UTTER_REFUND_IN_PROGRESS,
    UTTER_RETURN_ALREADY_OPEN,
    UTTER_RETURN_FAILED,
    UTTER_RETURN_NOT_DELIVERED,
    UTTER_RETURN_ORDER_CANCELLED,
    UTTER_RETURN_STARTED,
    UTTER_RETURN_WINDOW_CLOSED,
    UTTER_WHICH_ORDER,
)
from actions.i18n import EN, day, language, method, phrase, state, tracking_event

ORDER_SYSTEM = "order system"

# The order service's conflict codes for a return, and the reply each one gets.
RETURN_REPLIES = {
    "return_window_closed": UTTER_RETURN_WINDOW_CLOSED,
    "not_delivered": UTTER_RETURN_NOT_DELIVERED,
    "return_already_open": UTTER_RETURN_ALREADY_OPEN,
    "already_returned": UTTER_ALREADY_RETURNED,
    "order_cancelled": UTTER_RETURN_ORDER_CANCELLED,
}


def status_summary(order: dict[str, Any], lang: str = EN) -> str:
    """One or two sentences about where an order is (the ``order_status`` placeholder of ``utter_order_status``),
    in the shopper's language."""
    status = order["status"]
    shipment = order.get("shipment") or {}
    if status == "placed":
        return phrase(lang, "status_placed", date=day(order["placed_at"], lang))
    if status == "paid":
        return phrase(lang, "status_paid")
    if status == "shipped":
        events = shipment.get("events") or []
        latest = events[-1] if events else None
        text = phrase(lang, "status_shipped", carrier=shipment.get("carrier"),
                      tracking_number=shipment.get("tracking_number"), tracking_url=shipment.get("tracking_url"))
        if latest:
            description, location = tracking_event(latest, lang)
            text += phrase(lang, "status_latest", description=description, location=location,
                           date=day(latest["at"], lang))
        if shipment.get("delayed"):
            text += phrase(lang, "status_late", date=day(shipment.get("estimated_delivery"), lang))
        else:
            text += phrase(lang, "status_eta", date=day(shipment.get("estimated_delivery"), lang))
        return text
    if status == "delivered":
        policy = order.get("return_policy") or {}
        text = phrase(lang, "status_delivered", date=day(order.get("delivered_at"), lang))
        if policy.get("eligible"):
            text += phrase(lang, "status_returnable", date=day(policy.get("deadline"), lang))
        return text
    if status == "returned":
        refunds = order.get("refunds") or []
        return phrase(lang, "status_returned") + (
            phrase(lang, "status_returned_refund", refund_status=state(refunds[-1]["status"], lang)) if refunds
            else phrase(lang, "status_end"))
    if status == "cancelled":
        refunds = order.get("refunds") or []
        return phrase(lang, "status_cancelled", date=day(order.get("cancelled_at"), lang)) + (
            phrase(lang, "status_cancelled_refund", amount=price(refunds[-1]["amount"]),
                   refund_status=state(refunds[-1]["status"], lang)) if refunds
            else phrase(lang, "status_end"))
    return state(status, lang)


def not_found(dispatcher: CollectingDispatcher, oid: str) -> list[EventType]:
    """Unknown order or wrong email/phone: ask again, without saying which of the two it was."""
    dispatcher.utter_message(response=UTTER_ORDER_NOT_FOUND, order_id=oid)
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
            dispatcher.utter_message(response=UTTER_WHICH_ORDER)
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
        lang = language(tracker)
        try:
            order = await orders_client().get_order(oid, email, phone)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM, lang)
            return [SlotSet(SLOT_ORDER_STATUS, None)]
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            dispatcher.utter_message(response=UTTER_ORDER_LOOKUP_FAILED, order_id=oid, reason=exc.message)
            return []
        summary = status_summary(order, lang)
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
        lang = language(tracker)
        if tracker.get_slot(SLOT_CONFIRM_CANCEL) is False:
            dispatcher.utter_message(response=UTTER_CANCEL_DECLINED, order_id=oid)
            return [SlotSet(SLOT_CONFIRM_CANCEL, None)]
        key = idempotency_key(tracker, self.name(), oid)
        try:
            result = await orders_client().cancel(oid, email, phone, key, reason="requested in chat")
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM, lang)
            return [SlotSet(SLOT_CONFIRM_CANCEL, None)]
        except BackendRejected as exc:
            events: list[EventType] = [SlotSet(SLOT_CONFIRM_CANCEL, None)]
            if exc.code == "order_not_found":
                return events + not_found(dispatcher, oid)
            if exc.code == "already_cancelled":
                dispatcher.utter_message(response=UTTER_ALREADY_CANCELLED, order_id=oid)
                return events + [SlotSet(SLOT_ORDER_STATUS, "cancelled")]
            if exc.code == "not_cancellable":
                status = exc.details.get("status", "shipped")
                dispatcher.utter_message(response=UTTER_CANNOT_CANCEL, order_id=oid, status=state(status, lang))
                return events + [SlotSet(SLOT_ORDER_STATUS, status)]
            dispatcher.utter_message(response=UTTER_CANCEL_FAILED, order_id=oid, reason=exc.message)
            return events
        refund = result.get("refund")
        if refund:
            dispatcher.utter_message(response=UTTER_ORDER_CANCELLED_REFUND, order_id=oid,
                                     amount=price(refund["amount"]), method=method(refund["method"], lang),
                                     date=day(refund.get("expected_by"), lang))
        else:
            dispatcher.utter_message(response=UTTER_ORDER_CANCELLED, order_id=oid)
        return [SlotSet(SLOT_ORDER_STATUS, "cancelled"), SlotSet(SLOT_CONFIRM_CANCEL, None)]


class ActionStartReturn(_OrderAction):
    def name(self) -> str:
        return "action_start_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        lang = language(tracker)
        reason = str(tracker.get_slot(SLOT_RETURN_REASON) or "").strip() or "not specified"
        key = idempotency_key(tracker, self.name(), oid, reason)
        try:
            result = await orders_client().start_return(oid, email, phone, reason, key)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM, lang)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            if exc.code == "return_window_closed":
                deadline = exc.details.get("deadline")
                closed_on = (day(deadline, lang) if deadline and lang != EN
                             else exc.message.split("closed on ")[-1].rstrip("."))
                dispatcher.utter_message(response=UTTER_RETURN_WINDOW_CLOSED, order_id=oid, closed_on=closed_on)
            elif exc.code in RETURN_REPLIES:
                dispatcher.utter_message(response=RETURN_REPLIES[exc.code], order_id=oid)
            else:
                dispatcher.utter_message(response=UTTER_RETURN_FAILED, order_id=oid, reason=exc.message)
            return []
        request = result["return"]
        dispatcher.utter_message(response=UTTER_RETURN_STARTED, order_id=oid, return_id=request["return_id"],
                                 label_url=request["label_url"], date=day(request["drop_off_by"], lang),
                                 amount=price(request["refund_amount"]))
        return [SlotSet(SLOT_ORDER_STATUS, "return requested")]


class ActionRefundStatus(_OrderAction):
    def name(self) -> str:
        return "action_refund_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        lang = language(tracker)
        try:
            result = await orders_client().refund_status(oid, email, phone)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM, lang)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            dispatcher.utter_message(response=UTTER_REFUND_CHECK_FAILED, order_id=oid, reason=exc.message)
            return []
        refunds = result.get("refunds") or []
        if refunds:
            refund = refunds[-1]
            amount, to = price(refund["amount"]), method(refund["method"], lang)
            if refund["status"] == "completed":
                dispatcher.utter_message(response=UTTER_REFUND_COMPLETED, order_id=oid, amount=amount, method=to,
                                         date=day(refund["completed_at"], lang))
            else:
                dispatcher.utter_message(response=UTTER_REFUND_IN_PROGRESS, order_id=oid, amount=amount, method=to,
                                         refund_status=state(refund["status"], lang),
                                         date=day(refund.get("expected_by"), lang))
        elif result.get("open_return"):
            open_return = result["open_return"]
            dispatcher.utter_message(response=UTTER_REFUND_AWAITING_RETURN, order_id=oid,
                                     return_id=open_return["return_id"], amount=price(open_return["refund_amount"]))
        else:
            dispatcher.utter_message(response=UTTER_NO_REFUND, order_id=oid,
                                     status=state(result["order_status"], lang))
        return [SlotSet(SLOT_ORDER_STATUS, result["order_status"])]


class ActionChangeAddress(_OrderAction):
    def name(self) -> str:
        return "action_change_address"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        inputs = self._inputs(dispatcher, tracker)
        if inputs is None:
            return []
        oid, email, phone = inputs
        lang = language(tracker)
        address = str(tracker.get_slot(SLOT_NEW_ADDRESS) or "").strip()
        key = idempotency_key(tracker, self.name(), oid, address)
        try:
            result = await orders_client().change_address(oid, email, phone, address, key)
        except BackendUnavailable:
            offer_human(dispatcher, ORDER_SYSTEM, lang)
            return []
        except BackendRejected as exc:
            if exc.code == "order_not_found":
                return not_found(dispatcher, oid)
            if exc.code == "already_shipped":
                dispatcher.utter_message(response=UTTER_ADDRESS_ALREADY_SHIPPED, order_id=oid,
                                         status=state(exc.details.get("status", "shipped"), lang))
                return []
            if exc.code == "invalid_address":
                dispatcher.utter_message(response=UTTER_ADDRESS_INVALID)
                return [SlotSet(SLOT_NEW_ADDRESS, None), FollowupAction("address_form")]
            dispatcher.utter_message(response=UTTER_ADDRESS_CHANGE_FAILED, order_id=oid, reason=exc.message)
            return []
        dispatcher.utter_message(response=UTTER_ADDRESS_CHANGED, order_id=oid, address=result["shipping_address"])
        return [SlotSet(SLOT_ORDER_STATUS, result["status"])]
