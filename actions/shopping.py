"""Shopping advice: ``action_recommend_products`` and ``action_product_info`` (recommendation service).

The recommendation list is built per pick (a line and a button each), so its fixed words come from
``actions.i18n.PHRASES`` in the shopper's language; every other reply is a domain response.
"""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, BackendUnavailable, recommend_client
from actions.common import offer_human, price, shopper_id
from actions.constants import (
    RECOMMENDATIONS_SHOWN,
    SLOT_BRAND,
    SLOT_CATEGORY,
    SLOT_COLOR,
    SLOT_PRODUCT,
    UTTER_PRODUCT_INFO,
    UTTER_PRODUCT_LOOKUP_FAILED,
    UTTER_PRODUCT_NOT_FOUND,
    UTTER_RECO_FAILED,
    UTTER_RECO_NOTHING_FOUND,
    UTTER_WHICH_PRODUCT,
)
from actions.i18n import EN, category, color, language, phrase, wish

RECO_SYSTEM = "product recommendations"
WISH_SLOTS = (SLOT_COLOR, SLOT_BRAND, SLOT_CATEGORY, SLOT_PRODUCT)  # the order the request reads in


def _wishes(tracker: Tracker) -> list[str]:
    """What the shopper asks for in this request (the NLU's canonical English values).

    A message that names a category or a product is a new request: only its own words count, so an earlier
    search or the pick the bot showed last ("phones Hoka Clifton 9") does not leak into it. A message that
    only adds a color or brand ("in black?") refines the category asked for before; one that names nothing
    ("can you recommend something?") uses what the shopper asked for earlier in the conversation, except the
    product slot, which the bot itself fills with its first pick."""
    named: dict[str, list[str]] = {}
    for entity in _without_overlaps((tracker.latest_message or {}).get("entities") or []):
        value = entity.get("value")
        if entity.get("entity") in WISH_SLOTS and isinstance(value, str) and value.strip():
            named.setdefault(entity["entity"], []).append(value.strip())
    if SLOT_CATEGORY in named or SLOT_PRODUCT in named:
        parts = [v for slot in WISH_SLOTS for v in named.get(slot, [])]
    else:
        parts = [v for slot in WISH_SLOTS[:-1] for v in named.get(slot) or _slot_values(tracker, slot)]
    return list(dict.fromkeys(parts))


def _without_overlaps(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One value per stretch of text: two extractors finding "running shoes" and "shoes" keep the longer."""
    def span(entity: dict[str, Any]) -> tuple[int, int] | None:
        start, end = entity.get("start"), entity.get("end")
        return (start, end) if isinstance(start, int) and isinstance(end, int) else None

    kept: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: -((span(e) or (0, 0))[1] - (span(e) or (0, 0))[0])):
        here = span(entity)
        if here is None or not any((other := span(k)) and k.get("entity") == entity.get("entity")
                                   and here[0] < other[1] and other[0] < here[1] for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: (span(e) or (0, 0))[0])


def _slot_values(tracker: Tracker, slot: str) -> list[str]:
    value = tracker.get_slot(slot)
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def _context(tracker: Tracker) -> str:
    """The request context the recommendation service parses ("black Nike running shoes")."""
    return " ".join(_wishes(tracker))


def _shown_context(tracker: Tracker, lang: str) -> str:
    """The same wishes as the shopper reads them back ("黑色 Nike 跑鞋" in Chinese)."""
    return " ".join(dict.fromkeys(wish(part, lang) for part in _wishes(tracker))) if lang != EN else _context(tracker)


def _ask_button(item: dict[str, Any], lang: str = EN) -> dict[str, str]:
    payload = json.dumps({"product": item["title"]})
    return {"title": phrase(lang, "reco_button", title=item["title"]), "payload": f"/product_question{payload}"}


class ActionRecommendProducts(Action):
    """Top picks for the shopper with a personal one-liner each (domain sent: ``send_domain: true``)."""

    def name(self) -> str:
        return "action_recommend_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        context = _context(tracker)
        lang = language(tracker)
        shown = _shown_context(tracker, lang)
        try:
            result = await recommend_client().recommend(shopper_id(tracker), RECOMMENDATIONS_SHOWN, context, lang)
        except BackendUnavailable:
            offer_human(dispatcher, RECO_SYSTEM, lang)
            return []
        except BackendRejected as exc:
            dispatcher.utter_message(response=UTTER_RECO_FAILED, reason=exc.message)
            return []
        items = result.get("items") or []
        if not items:
            dispatcher.utter_message(response=UTTER_RECO_NOTHING_FOUND, context=shown)
            return []
        lines = [phrase(lang, "reco_line", n=n, pitch=item["pitch"])
                 + ("" if item["in_stock"] else phrase(lang, "reco_back_soon"))
                 for n, item in enumerate(items, 1)]
        intro = phrase(lang, "reco_intro_for", context=shown) if context else phrase(lang, "reco_intro")
        dispatcher.utter_message(text="\n".join([intro, *lines]), buttons=[_ask_button(i, lang) for i in items])
        dispatcher.utter_message(json_message={"recommendations": items, "strategy": result.get("strategy")})
        # A known product slot lets a follow-up "tell me more" go straight to the first pick.
        events: list[EventType] = []
        if "slots" in domain and SLOT_PRODUCT in domain.get("slots", {}) and not tracker.get_slot(SLOT_PRODUCT):
            events.append(SlotSet(SLOT_PRODUCT, items[0]["title"]))
        return events


class ActionProductInfo(Action):
    """Price, colors, sizes, stock and the selling points of the product the shopper named."""

    def name(self) -> str:
        return "action_product_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        # every product word of this message ("Sony" + "WH-1000XM5" may come as two entities), else the slots
        named = [e["value"] for e in _without_overlaps((tracker.latest_message or {}).get("entities") or [])
                 if e.get("entity") == SLOT_PRODUCT and isinstance(e.get("value"), str)]
        query = " ".join(dict.fromkeys(named)) or str(tracker.get_slot(SLOT_PRODUCT) or tracker.get_slot(SLOT_CATEGORY) or "")
        query = query.strip()
        lang = language(tracker)
        if not query:
            dispatcher.utter_message(response=UTTER_WHICH_PRODUCT)
            return []
        try:
            result = await recommend_client().search(query, k=1)
        except BackendUnavailable:
            offer_human(dispatcher, "product catalog", lang)
            return []
        except BackendRejected as exc:
            dispatcher.utter_message(response=UTTER_PRODUCT_LOOKUP_FAILED, reason=exc.message)
            return []
        items = result.get("items") or []
        if not items:
            dispatcher.utter_message(response=UTTER_PRODUCT_NOT_FOUND, query=wish(query, lang))
            return []
        item = items[0]
        details = ""
        if item.get("colors"):
            colors = phrase(lang, "list_separator").join(color(c, lang) for c in item["colors"])
            details += phrase(lang, "product_colors", colors=colors)
        if item.get("sizes"):
            details += phrase(lang, "product_sizes", first=item["sizes"][0], last=item["sizes"][-1])
        details += phrase(lang, "product_in_stock" if item.get("in_stock", 0) > 0 else "product_out_of_stock")
        dispatcher.utter_message(response=UTTER_PRODUCT_INFO, title=item["title"],
                                 category=category(item["category"], lang), price=price(item["price"]),
                                 features=item["features"], details=details)
        return [SlotSet(SLOT_PRODUCT, item["title"])]
