"""Slot validation for the five order forms (``validate_track_form`` ... ``validate_address_form``).

Order ids must look like A12345 (so nothing else ever reaches the backend), emails like an email. Once both are
known the order service is asked whether they belong together; if not, both slots are cleared and the form asks
again. A backend that is down does not block the form: the final action reports the outage.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, BackendUnavailable, orders_client
from actions.common import parse_email, parse_order_id
from actions.constants import (
    SLOT_CONFIRM_CANCEL,
    SLOT_EMAIL,
    SLOT_NEW_ADDRESS,
    SLOT_ORDER_ID,
    SLOT_RETURN_REASON,
    UTTER_ADDRESS_INCOMPLETE,
    UTTER_INVALID_EMAIL,
    UTTER_INVALID_ORDER_ID,
    UTTER_ORDER_EMAIL_MISMATCH,
    UTTER_RETURN_REASON_TOO_SHORT,
)


class _OrderFormValidation(FormValidationAction):
    """``validate_order_id`` and ``validate_email`` (with an ownership check), shared by every order form."""

    @abstractmethod
    def name(self) -> str:
        """``validate_<form>``; abstract, so the action server does not register this base class."""

    async def validate_order_id(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        oid = parse_order_id(value)
        if oid is None:
            dispatcher.utter_message(response=UTTER_INVALID_ORDER_ID)
            return {SLOT_ORDER_ID: None}
        email = parse_email(tracker.get_slot(SLOT_EMAIL))
        if email and not await self._belongs(oid, email, dispatcher):
            return {SLOT_ORDER_ID: None, SLOT_EMAIL: None}
        return {SLOT_ORDER_ID: oid}

    async def validate_email(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        email = parse_email(value)
        if email is None:
            dispatcher.utter_message(response=UTTER_INVALID_EMAIL)
            return {SLOT_EMAIL: None}
        oid = parse_order_id(tracker.get_slot(SLOT_ORDER_ID))
        if oid and not await self._belongs(oid, email, dispatcher):
            return {SLOT_ORDER_ID: None, SLOT_EMAIL: None}
        return {SLOT_EMAIL: email}

    @staticmethod
    async def _belongs(oid: str, email: str, dispatcher: CollectingDispatcher) -> bool:
        try:
            await orders_client().get_order(oid, email, None)
        except BackendUnavailable:
            return True  # can't check now; the action will say the order system is down
        except BackendRejected as exc:
            if exc.code != "order_not_found":
                return True
            dispatcher.utter_message(response=UTTER_ORDER_EMAIL_MISMATCH, order_id=oid)
            return False
        return True


class ValidateTrackForm(_OrderFormValidation):
    def name(self) -> str:
        return "validate_track_form"


class ValidateRefundForm(_OrderFormValidation):
    def name(self) -> str:
        return "validate_refund_form"


class ValidateCancelForm(_OrderFormValidation):
    def name(self) -> str:
        return "validate_cancel_form"

    def validate_confirm_cancel(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        """Only a yes or a no (affirm / deny fill it) confirms; anything else asks again."""
        return {SLOT_CONFIRM_CANCEL: value if isinstance(value, bool) else None}


class ValidateReturnForm(_OrderFormValidation):
    def name(self) -> str:
        return "validate_return_form"

    def validate_return_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        reason = " ".join(str(value or "").split())
        if len(reason) < 3:
            dispatcher.utter_message(response=UTTER_RETURN_REASON_TOO_SHORT)
            return {SLOT_RETURN_REASON: None}
        return {SLOT_RETURN_REASON: reason[:300]}


class ValidateAddressForm(_OrderFormValidation):
    def name(self) -> str:
        return "validate_address_form"

    def validate_new_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        address = " ".join(str(value or "").split())
        if len(address) < 8 or not any(ch.isdigit() for ch in address) or len(address) > 300:
            dispatcher.utter_message(response=UTTER_ADDRESS_INCOMPLETE)
            return {SLOT_NEW_ADDRESS: None}
        return {SLOT_NEW_ADDRESS: address}
