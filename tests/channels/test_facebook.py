"""The Messenger channel: Meta's verification handshake, signed page events in, Send API calls out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channel_support import RecordingApi, build_app, hub_signature, user_texts

from bot.errors import KefuError
from bot.server import Settings, create_app

SECRET = "fb-app-secret"
PAGE_TOKEN = "EAAB-page-token"


@pytest.fixture
async def facebook(aiohttp_client: Any, aiohttp_server: Any) -> Any:
    api = RecordingApi()
    server = await aiohttp_server(api.app())
    app, store = build_app({"facebook": {"verify": "verify-me", "secret": SECRET, "page-access-token": PAGE_TOKEN,
                                         "api_base_url": str(server.make_url("/v19.0")).rstrip("/")}})
    client = await aiohttp_client(app)

    async def post(body: dict[str, Any], signature: str | None = "valid") -> Any:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = hub_signature(SECRET, raw)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await client.post("/webhooks/facebook/webhook", data=raw, headers=headers)

    return post, api, store, client


def page_event(*messaging: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "PAGE_ID", "time": 1_700_000_000_000, "messaging": list(messaging)}]}


def text(text: str, sender: str = "PSID-1", **message: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1_700_000_000_000,
            "message": {"mid": f"m_{text}", "text": text, **message}}


async def test_verification_handshake(facebook: Any) -> None:
    _, _, _, client = facebook
    ok = await client.get("/webhooks/facebook/webhook",
                          params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert ok.status == 200 and await ok.text() == "1158201444"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"}):
        refused = await client.get("/webhooks/facebook/webhook", params=params)
        assert refused.status == 403 and await refused.text() != "1"


async def test_text_message_is_answered_with_the_send_api(facebook: Any) -> None:
    post, api, store, _ = facebook
    assert (await post(page_event(text("/greet")))).status == 200
    [call] = api.calls
    assert (call["method"], call["path"], call["query"]) == ("POST", "/v19.0/me/messages", {"access_token": PAGE_TOKEN})
    assert call["json"] == {"recipient": {"id": "PSID-1"}, "message": {"text": "Hi! How can I help?"},
                            "messaging_type": "RESPONSE"}
    tracker = await store.retrieve("PSID-1")
    assert [e["message_id"] for e in tracker.events if e["event"] == "user"] == ["m_/greet"]


async def test_buttons_quick_replies_and_postbacks(facebook: Any) -> None:
    post, api, store, _ = facebook
    await post(page_event(text("/track_order")))
    assert api.bodies()[-1]["message"] == {"attachment": {"type": "template", "payload": {
        "template_type": "button", "text": "Shall I look up your order?",
        "buttons": [{"type": "postback", "title": "Yes please", "payload": "/affirm"},
                    {"type": "postback", "title": "No thanks", "payload": "/deny"}]}}}
    await post(page_event({"sender": {"id": "PSID-1"}, "recipient": {"id": "PAGE_ID"},
                           "postback": {"title": "Yes please", "payload": "/affirm"}}))
    assert api.bodies()[-1]["message"] == {"text": "Order A12345 is on its way."}

    await post(page_event(text("/pick_size")))  # 5 buttons: more than a template holds -> quick replies
    message = api.bodies()[-1]["message"]
    assert message["text"] == "Pick a size"
    assert [r["title"] for r in message["quick_replies"]] == [f"Size {n} (European s\u2026" for n in range(36, 41)]
    assert all(len(r["title"]) <= 20 and r["content_type"] == "text" for r in message["quick_replies"])
    tap = text("Size 37 (European…", quick_reply={"payload": message["quick_replies"][1]["payload"]})
    await post(page_event(tap))
    assert (await user_texts(store, "PSID-1"))[-1] == message["quick_replies"][1]["payload"]
    assert api.bodies()[-1]["message"] == {"text": "Noted."}


async def test_images_and_echoes(facebook: Any) -> None:
    post, api, store, _ = facebook
    await post(page_event(text("/show_image"), text("my own echo", sender="PAGE_ID", is_echo=True)))
    assert [b["message"] for b in api.bodies()] == [
        {"text": "Here it is:"},
        {"attachment": {"type": "image", "payload": {"url": "https://shop.example/banner.png", "is_reusable": True}}}]
    assert await user_texts(store, "PAGE_ID") == []


@pytest.mark.parametrize("signature", [
    None,
    "sha256=" + "0" * 64,
    hub_signature("another-secret", b"{}"),
    "md5=abc",
])
async def test_bad_or_missing_signature_is_403_and_nothing_is_processed(facebook: Any, signature: str | None) -> None:
    post, api, store, _ = facebook
    response = await post(page_event(text("/greet", sender="PSID-9")), signature=signature)
    assert response.status == 403
    assert api.calls == [] and await user_texts(store, "PSID-9") == []


async def test_a_signature_over_another_body_is_refused(facebook: Any) -> None:
    post, api, store, _ = facebook
    forged = hub_signature(SECRET, json.dumps(page_event(text("/deny", sender="PSID-9"))).encode())
    assert (await post(page_event(text("/greet", sender="PSID-9")), signature=forged)).status == 403
    assert api.calls == [] and await user_texts(store, "PSID-9") == []


def test_required_keys() -> None:
    with pytest.raises(KefuError, match="facebook: 'page-access-token' is required"):
        create_app(Settings(credentials={"facebook": {"verify": "v", "secret": "s"}}))


async def test_signed_bodies_of_unknown_shape_are_acknowledged(facebook: Any) -> None:
    post, api, store, _ = facebook
    for body in ({"object": "page", "entry": ["x", {"messaging": "y"}, {"messaging": [7]}]},
                 {"object": "instagram", "entry": []}):
        assert (await post(body)).status == 200
    assert api.calls == [] and await store.keys() == []
