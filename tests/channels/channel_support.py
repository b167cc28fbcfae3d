"""Shared support for the channel tests: a small shop bot, a recorder of outgoing API calls, signatures.

Imported by the ``test_*`` files of this folder (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot import events as ev
from bot.agent import Agent
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.nlg import TemplatedNLG
from bot.server import Settings, create_app
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore

PRODUCTS = [
    {"title": "Trail runner GTX", "price": 89.9, "currency": "EUR", "image_url": "/static/none.png",
     "pitch": "Waterproof and light: made for muddy weekends.",
     "buttons": [{"title": "Tell me more", "payload": '/product_question{"product": "Trail runner GTX"}'}]},
    {"title": "Daypack 22 L", "price": 49.5, "currency": "EUR", "image_url": "/static/none.png",
     "pitch": "Fits under a plane seat.", "buttons": []},
]



def size_button(size: int) -> dict[str, str]:
    """A button whose payload is longer than Telegram's 64-byte callback_data."""
    return {"title": f"Size {size} (European sizing)",
            "payload": f'/inform{{"size": "{size}", "note": "European sizing, fits true to size"}}'}


SHOP: dict[str, Any] = {
    "intents": ["greet", "track_order", "affirm", "deny", "recommend_product", "product_question", "show_image",
                "show_elements", "long_text", "pick_size", "choose_delivery", "inform"],
    "entities": ["product", "order_id"],
    "slots": {
        "product": {"type": "text", "mappings": [{"type": "from_entity", "entity": "product"}]},
        "order_id": {"type": "text", "mappings": [{"type": "from_entity", "entity": "order_id"}]},
    },
    "responses": {
        "utter_greet": [
            {"text": "Hi! How can I help?"},
            {"channel": "socketio", "text": "Hi from the web chat!"},
            {"channel": "telegram", "text": "Hi from Telegram!"},
        ],
        "utter_ask_continue": [{"text": "Shall I look up your order?", "buttons": [
            {"title": "Yes please", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}]}],
        "utter_order_found": [{"text": "Order A12345 is on its way."}],
        "utter_ok": [{"text": "Okay, nothing more then."}],
        "utter_recommend": [{"text": "You might like these:", "custom": {"products": PRODUCTS}}],
        "utter_product": [{"text": "The {product} is a customer favourite."}],
        "utter_image": [{"text": "Here it is:", "image": "https://shop.example/banner.png"}],
        "utter_elements": [{"text": "Two picks", "elements": [{"title": "A", "subtitle": "first"},
                                                              {"title": "B", "subtitle": "second"}]}],
        "utter_long": [{"text": "First paragraph.\n\nSecond paragraph."}],
        "utter_many_buttons": [{"text": "Pick a size", "buttons": [size_button(n) for n in range(36, 41)]}],
        "utter_delivery": [{"text": "How should we ship it?", "buttons": [
            {"title": "Standard", "payload": "/inform{\"delivery\": \"standard\"}"},
            {"title": "Express delivery tomorrow morning", "payload": "/inform{\"delivery\": \"express\"}"},
            {"title": "Pick up in store", "payload": "/inform{\"delivery\": \"pickup\"}"}]}],
        "utter_noted": [{"text": "Noted."}],
    },
    "actions": [],
}

AFTER_INTENT = {
    "greet": ["utter_greet"],
    "track_order": ["utter_ask_continue"],
    "affirm": ["utter_order_found"],
    "deny": ["utter_ok"],
    "recommend_product": ["utter_recommend"],
    "product_question": ["utter_product"],
    "show_image": ["utter_image"],
    "show_elements": ["utter_elements"],
    "long_text": ["utter_long"],
    "pick_size": ["utter_many_buttons"],
    "choose_delivery": ["utter_delivery"],
    "inform": ["utter_noted"],
}


@dataclass
class Prediction:
    action_name: str
    policy_name: str = "ChannelTestPolicy"
    confidence: float = 1.0
    events: list[dict[str, Any]] = field(default_factory=list)
    optional_events: list[dict[str, Any]] = field(default_factory=list)


class IntentPolicy:
    """Runs the responses listed for the latest intent, then listens."""

    name = "ChannelTestPolicy"

    def __init__(self, after_intent: dict[str, list[str]]) -> None:
        self.after_intent = after_intent

    def predict(self, tracker: Any, domain: Domain) -> Prediction:
        events = tracker.events
        start = max((i for i, e in enumerate(events) if e.get("event") == ev.USER), default=-1)
        done = [e["name"] for e in events[start + 1:] if e.get("event") == ev.ACTION]
        plan = self.after_intent.get(tracker.latest_intent or "", [])
        return Prediction(plan[len(done)] if len(done) < len(plan) else ACTION_LISTEN_NAME)


def shop_agent(seed: int = 3) -> Agent:
    domain = Domain.from_dict(SHOP)
    return Agent(domain=domain, policy=IntentPolicy(AFTER_INTENT), nlg=TemplatedNLG(domain.responses, seed=seed))


def build_app(credentials: dict[str, dict[str, Any]], **settings: Any) -> tuple[web.Application, InMemoryTrackerStore]:
    """The real server app with the test shop bot; returns it with its tracker store (to inspect)."""
    agent = shop_agent()
    store = InMemoryTrackerStore(agent.domain)
    app = create_app(Settings(agent=agent, credentials=credentials, tracker_store=store,
                              lock_store=InMemoryLockStore(), **settings))
    return app, store


async def user_texts(store: InMemoryTrackerStore, sender_id: str) -> list[str]:
    """The texts of the user events saved for a conversation ([] when there is none)."""
    tracker = await store.retrieve(sender_id)
    if tracker is None:
        return []
    return [e.get("text") for e in tracker.events if e.get("event") == ev.USER]


async def conversation_ids(store: InMemoryTrackerStore) -> list[str]:
    return sorted(await store.keys())


class RecordingApi:
    """A stand-in for a platform's HTTP API: records every call and answers ``{"ok": true}``.

    ``status`` makes every answer fail with that HTTP status instead.
    """

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.calls.append({"method": request.method, "path": request.path, "query": dict(request.query),
                           "headers": dict(request.headers), "json": body})
        if self.status != 200:
            return web.json_response({"ok": False, "error": "test failure"}, status=self.status)
        return web.json_response({"ok": True, "result": {"message_id": len(self.calls)}})

    def bodies(self, path_suffix: str = "") -> list[Any]:
        return [c["json"] for c in self.calls if c["path"].endswith(path_suffix)]


def hub_signature(secret: str, body: bytes) -> str:
    """Meta's ``X-Hub-Signature-256`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signing headers for ``body`` (now, unless ``timestamp`` says otherwise)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
