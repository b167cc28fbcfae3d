"""``channel:`` response variations are chosen by the channel the shopper writes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import socketio
from channel_support import SHOP, RecordingApi, build_app, hub_signature


async def test_same_response_differs_per_channel(aiohttp_client: Any, aiohttp_server: Any) -> None:
    assert {v.get("channel") for v in SHOP["responses"]["utter_greet"]} == {None, "socketio", "telegram"}
    api = RecordingApi()
    server = await aiohttp_server(api.app())
    base = str(server.make_url("")).rstrip("/")
    app, _ = build_app({
        "rest": {},
        "socketio": {"session_persistence": True},
        "telegram": {"access_token": "1:T", "secret_token": "s", "api_base_url": base},
        "facebook": {"verify": "v", "secret": "fb", "page-access-token": "p", "api_base_url": base},
    })
    client = await aiohttp_client(app)

    rest = await client.post("/webhooks/rest/webhook", json={"sender": "r1", "message": "/greet"})
    assert await rest.json() == [{"recipient_id": "r1", "text": "Hi! How can I help?"}]  # the default variation

    sio = socketio.AsyncClient(reconnection=False)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    confirmed: asyncio.Queue[str] = asyncio.Queue()
    sio.on("bot_uttered", heard.put_nowait)
    sio.on("session_confirm", confirmed.put_nowait)
    await sio.connect(str(client.make_url("/")), transports=["websocket"], wait_timeout=5)
    try:
        await sio.emit("session_request", {"session_id": "web-1"})
        assert await asyncio.wait_for(confirmed.get(), 5) == "web-1"
        await sio.emit("user_uttered", {"message": "/greet", "session_id": "web-1"})
        assert await asyncio.wait_for(heard.get(), 5) == {"text": "Hi from the web chat!"}  # the socketio variation
    finally:
        await sio.disconnect()

    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/greet", "chat": {"id": 42, "type": "private"}}}
    await client.post("/webhooks/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
    raw = json.dumps({"object": "page", "entry": [{"id": "P", "messaging": [
        {"sender": {"id": "F1"}, "recipient": {"id": "P"}, "message": {"mid": "m1", "text": "/greet"}}]}]}).encode()
    await client.post("/webhooks/facebook/webhook", data=raw,
                      headers={"X-Hub-Signature-256": hub_signature("fb", raw), "Content-Type": "application/json"})
    texts = [c["json"].get("text") or c["json"]["message"].get("text") for c in api.calls]
    assert texts == ["Hi from Telegram!", "Hi! How can I help?"]  # facebook has no variation of its own
