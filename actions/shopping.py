"""Shopping advice: ``action_recommend_products`` and ``action_product_info`` (recommendation service)."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, BackendUnavailable, RecommendClient
from actions.common import offer_human, price, shopper_id
from actions.constants import (
    RECOMMENDATIONS_SHOWN,
    SLOT_BRAND,
    SLOT_CATEGORY,
    SLOT_COLOR,
    SLOT_PRODUCT,
)

RECO_SYSTEM = "product recommendations"


def _context(tracker: Tracker) -> str:
    """What the shopper asked for, from the slots and the latest message's entities."""
    parts = []
    for slot in (SLOT_COLOR, SLOT_BRAND, SLOT_CATEGORY, SLOT_PRODUCT):
        value = tracker.get_slot(slot)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
    return " ".join(dict.fromkeys(parts))


def _ask_button(item: dict[str, Any]) -> dict[str, str]:
    payload = json.dumps({"product": item["title"]})
    return {"title": f"More about {item['title']}", "payload": f"/product_question{payload}"}


class ActionRecommendProducts(Action):
    """Top picks for the shopper with a personal one-liner each (domain sent: ``send_domain: true``)."""

    def name(self) -> str:
        return "action_recommend_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        context = _context(tracker)
        try:
            result = await RecommendClient.from_settings().recommend(shopper_id(tracker), RECOMMENDATIONS_SHOWN,
                                                                     context)
        except BackendUnavailable:
            offer_human(dispatcher, RECO_SYSTEM)
            return []
        except BackendRejected as exc:
            dispatcher.utter_message(text=f"I couldn't look for products: {exc.message}")
            return []
        items = result.get("items") or []
        if not items:
            dispatcher.utter_message(text=f"I couldn't find anything for \"{context}\" right now. Could you tell me "
                                          "a bit more about what you're looking for?")
            return []
        lines = [f"{n}. {item['pitch']}" + ("" if item["in_stock"] else " (back in stock soon)")
                 for n, item in enumerate(items, 1)]
        intro = f"Here's what I'd suggest for \"{context}\":" if context else "Here are my picks for you:"
        dispatcher.utter_message(text="\n".join([intro, *lines]), buttons=[_ask_button(i) for i in items])
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
        entity = next(tracker.get_latest_entity_values(SLOT_PRODUCT), None)
        query = str(entity or tracker.get_slot(SLOT_PRODUCT) or tracker.get_slot(SLOT_CATEGORY) or "").strip()
        if not query:
            dispatcher.utter_message(text="Which product would you like to know about?")
            return []
        try:
            result = await RecommendClient.from_settings().search(query, k=1)
        except BackendUnavailable:
            offer_human(dispatcher, "product catalog")
            return []
        except BackendRejected as exc:
            dispatcher.utter_message(text=f"I couldn't look that up: {exc.message}")
            return []
        items = result.get("items") or []
        if not items:
            dispatcher.utter_message(text=f"I couldn't find \"{query}\" in our shop. Could you give me the full "
                                          "product name?")
            return []
        item = items[0]
        text = f"The {item['title']} ({item['category']}) costs {price(item['price'])}: {item['features']}."
        if item.get("colors"):
            text += f" Colors: {', '.join(item['colors'])}."
        if item.get("sizes"):
            text += f" Sizes {item['sizes'][0]} to {item['sizes'][-1]}."
        text += " In stock and ready to ship." if item.get("in_stock", 0) > 0 else " Currently out of stock."
        dispatcher.utter_message(text=text)
        return [SlotSet(SLOT_PRODUCT, item["title"])]
