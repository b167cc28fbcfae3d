"""The WhatsApp Cloud API channel: verification, signed notifications in, /messages calls out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channel_support import RecordingApi, build_app, hub_signature, user_texts

from bot.errors import KefuError
from bot.server import Settings, create_app

SECRET = "wa-app-secret"
TOKEN = "EAAG-wa-token"
PHONE_ID = "106540352242922"


@pytest.fixture
async def whatsapp(aiohttp_client: Any, aiohttp_server: Any) -> Any:
    api = RecordingApi()
    server = await aiohttp_server(api.app())
    app, store = build_app({"whatsapp": {"access_token": TOKEN, "phone_number_id": PHONE_ID, "verify_token": "wa-verify",
                                         "app_secret": SECRET, "api_base_url": str(server.make_url("/v19.0")).rstrip("/")}})
    client = await aiohttp_client(app)

    async def post(body: dict[str, Any], signature: str | None = "valid") -> Any:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = hub_signature(SECRET, raw)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await client.post("/webhooks/whatsapp/webhook", data=raw, headers=headers)

    return post, api, store, client


def notification(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID}}
    if messages:
        value["contacts"] = [{"profile": {"name": "Mia"}, "wa_id": "4915112345678"}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA_ID", "changes": [{"value": value, "field": "messages"}]}]}


def text(body: str, wamid: str = "wamid.1") -> dict[str, Any]:
    return {"from": "4915112345678", "id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": body}}


def button_reply(payload: str, title: str, wamid: str = "wamid.2") -> dict[str, Any]:
    return {"from": "4915112345678", "id": wamid, "timestamp": "1700000001", "type": "interactive",
            "context": {"from": "15550001111", "id": "wamid.bot"},
            "interactive": {"type": "button_reply", "button_reply": {"id": payload, "title": title}}}


def sent(api: RecordingApi) -> list[dict[str, Any]]:
    for call in api.calls:
        assert call["path"] == f"/v19.0/{PHONE_ID}/messages" and call["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert call["json"]["messaging_product"] == "whatsapp" and call["json"]["to"] == "4915112345678"
    return [{k: v for k, v in c["json"].items() if k not in ("messaging_product", "recipient_type", "to")} for c in api.calls]


async def test_verification_handshake(whatsapp: Any) -> None:
    _, _, _, client = whatsapp
    ok = await client.get("/webhooks/whatsapp/webhook",
                          params={"hub.mode": "subscribe", "hub.verify_token": "wa-verify", "hub.challenge": "9876"})
    assert ok.status == 200 and await ok.text() == "9876"
    bad = await client.get("/webhooks/whatsapp/webhook",
                           params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "9876"})
    assert bad.status == 403


async def test_text_message_is_answered(whatsapp: Any) -> None:
    post, api, store, _ = whatsapp
    assert (await post(notification(text("/greet")))).status == 200
    assert sent(api) == [{"type": "text", "text": {"preview_url": False, "body": "Hi! How can I help?"}}]
    tracker = await store.retrieve("4915112345678")
    [user] = [e for e in tracker.events if e["event"] == "user"]
    assert user["text"] == "/greet" and user["message_id"] == "wamid.1"
    assert user["metadata"] == {"whatsapp": {"profile_name": "Mia"}}


async def test_reply_buttons_titles_fit_and_a_tap_is_the_payload(whatsapp: Any) -> None:
    post, api, store, _ = whatsapp
    await post(notification(text("/choose_delivery")))
    [message] = sent(api)
    assert message == {"type": "interactive", "interactive": {
        "type": "button", "body": {"text": "How should we ship it?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": '/inform{"delivery": "standard"}', "title": "Standard"}},
            {"type": "reply", "reply": {"id": '/inform{"delivery": "express"}', "title": "Express delivery to\u2026"}},
            {"type": "reply", "reply": {"id": '/inform{"delivery": "pickup"}', "title": "Pick up in store"}}]}}}
    assert all(len(b["reply"]["title"]) <= 20 for b in message["interactive"]["action"]["buttons"])
    api.calls.clear()
    await post(notification(button_reply('/inform{"delivery": "express"}', "Express delivery to…")))
    assert sent(api) == [{"type": "text", "text": {"preview_url": False, "body": "Noted."}}]
    assert await user_texts(store, "4915112345678") == ["/choose_delivery", '/inform{"delivery": "express"}']


async def test_more_than_three_buttons_become_a_list(whatsapp: Any) -> None:
    post, api, store, _ = whatsapp
    await post(notification(text("/pick_size")))
    [message] = sent(api)
    assert message["interactive"]["type"] == "list"
    rows = message["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 5 and all(len(r["title"]) <= 24 for r in rows)
    api.calls.clear()
    tap = {"from": "4915112345678", "id": "wamid.3", "type": "interactive",
           "interactive": {"type": "list_reply", "list_reply": {"id": rows[4]["id"], "title": rows[4]["title"]}}}
    await post(notification(tap))
    assert (await user_texts(store, "4915112345678"))[-1] == rows[4]["id"]


async def test_statuses_and_images_from_the_user_are_not_turns(whatsapp: Any) -> None:
    post, api, store, _ = whatsapp
    status = {"id": "wamid.bot", "status": "delivered", "timestamp": "1700000002", "recipient_id": "4915112345678"}
    assert (await post(notification(statuses=[status]))).status == 200
    photo = {"from": "4915112345678", "id": "wamid.4", "type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}}
    assert (await post(notification(photo))).status == 200
    assert api.calls == [] and await user_texts(store, "4915112345678") == []


async def test_images_are_sent_by_link(whatsapp: Any) -> None:
    post, api, _, _ = whatsapp
    await post(notification(text("/show_image")))
    assert sent(api) == [{"type": "text", "text": {"preview_url": False, "body": "Here it is:"}},
                         {"type": "image", "image": {"link": "https://shop.example/banner.png"}}]


@pytest.mark.parametrize("signature", [None, "sha256=" + "f" * 64, hub_signature("not-the-secret", b"{}")])
async def test_bad_signature_is_403_and_nothing_is_processed(whatsapp: Any, signature: str | None) -> None:
    post, api, store, _ = whatsapp
    assert (await post(notification(text("/greet")), signature=signature)).status == 403
    assert api.calls == [] and await user_texts(store, "4915112345678") == []


def test_required_keys() -> None:
    with pytest.raises(KefuError, match="whatsapp: 'app_secret' is required"):
        create_app(Settings(credentials={"whatsapp": {"access_token": "t", "phone_number_id": "1", "verify_token": "v"}}))
