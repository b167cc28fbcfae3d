"""Helpers shared by the actions: who the shopper is, idempotency keys, prices, the "backend down" reply."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.constants import (
    METADATA_CUSTOMER_ID,
    METADATA_EMAIL,
    METADATA_PHONE,
    ORDER_ID_PATTERN,
    SLOT_EMAIL,
    SLOT_ORDER_ID,
    SLOT_PHONE,
    UTTER_BACKEND_UNAVAILABLE,
)
from actions.i18n import EN, system

_ORDER_ID = re.compile(ORDER_ID_PATTERN)
_EMAIL = re.compile(r"^[^@\s'\";<>()]+@[^@\s'\";<>()]+\.[A-Za-z]{2,}$")
# Non-ASCII text stuck to either end of an email ("邮箱是wang.lei@example.com。"): Chinese has no spaces.
_AROUND_EMAIL = re.compile(r"^[^\x00-\x7f]+|[^\x00-\x7f]+$")

def parse_order_id(value: Any) -> str | None:
    """"a12345", "#A12345", "order A-12345" -> "A12345"; anything else (SQL included) -> None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    match = _ORDER_ID.search(value.strip())
    return f"{match.group(1).upper()}{match.group(2)}" if match else None


def parse_email(value: Any) -> str | None:
    """"Mia.K@gmail.com" -> "mia.k@gmail.com"; Chinese words around it are dropped ("邮箱是a@b.cn。" -> "a@b.cn")."""
    if not isinstance(value, str):
        return None
    email = _AROUND_EMAIL.sub("", value.strip()).strip(".,;").lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else None


def _metadata(tracker: Tracker) -> dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def credentials(tracker: Tracker) -> tuple[str | None, str | None]:
    """(email, phone) of the shopper: the slots, or what an authenticated channel put in the metadata."""
    metadata = _metadata(tracker)
    email = tracker.get_slot(SLOT_EMAIL) or metadata.get(METADATA_EMAIL)
    phone = tracker.get_slot(SLOT_PHONE) or metadata.get(METADATA_PHONE)
    return (str(email).strip().lower() if email else None, str(phone).strip() if phone else None)


def order_id(tracker: Tracker) -> str | None:
    return parse_order_id(tracker.get_slot(SLOT_ORDER_ID))


def shopper_id(tracker: Tracker) -> str:
    """The id the recommender knows the shopper by: channel customer id, then email, then the sender id."""
    metadata = _metadata(tracker)
    email, _ = credentials(tracker)
    return str(metadata.get(METADATA_CUSTOMER_ID) or email or tracker.sender_id)


def idempotency_key(tracker: Tracker, action: str, *parts: str) -> str:
    """Same conversation turn -> same key, so a retried webhook call cannot write twice.

    The turn is identified by the latest user message (its id, else its timestamp, else the count of user
    messages so far).
    """
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    latest = user_events[-1] if user_events else {}
    turn = (tracker.latest_message or {}).get("message_id") or latest.get("message_id") or latest.get("timestamp")
    turn = turn if turn is not None else len(user_events)
    raw = "|".join([tracker.sender_id, action, str(turn), *parts])
    return f"kefu-{action}-{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def offer_human(dispatcher: CollectingDispatcher, what: str, lang: str = EN) -> None:
    """The polite reply when a backend is down: say so, and offer a person (``utter_backend_unavailable``, whose
    buttons are "Talk to a person" and "I'll try again later")."""
    dispatcher.utter_message(response=UTTER_BACKEND_UNAVAILABLE, system=system(what, lang))


def price(amount: float, currency: str = "USD") -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, "")
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"
