"""The Slack channel: signed Events API and interactivity requests in, chat.postMessage calls out."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from channel_support import RecordingApi, build_app, slack_headers, user_texts

from bot.errors import KefuError
from bot.server import Settings, create_app

SIGNING = "slack-signing-secret"
TOKEN = "xoxb-test-token"


@pytest.fixture
async def slack(aiohttp_client: Any, aiohttp_server: Any) -> Any:
    return await _slack(aiohttp_client, aiohttp_server)


async def _slack(aiohttp_client: Any, aiohttp_server: Any, **extra: Any) -> Any:
    api = RecordingApi()
    server = await aiohttp_server(api.app())
    app, store = build_app({"slack": {"slack_token": TOKEN, "slack_signing_secret": SIGNING,
                                      "api_base_url": str(server.make_url("/api")).rstrip("/"), **extra}})
    client = await aiohttp_client(app)

    async def post(body: dict[str, Any] | bytes, headers: dict[str, str] | None = None, form: bool = False,
                   timestamp: int | None = None) -> Any:
        if form:
            raw = urlencode({"payload": json.dumps(body)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            content_type = "application/json"
        sent = {"Content-Type": content_type, **slack_headers(SIGNING, raw, timestamp), **(headers or {})}
        return await client.post("/webhooks/slack/webhook", data=raw, headers=sent)

    return post, api, store


def message_event(text: str, event_id: str = "Ev1", user: str = "U123", channel: str = "D456", ts: str = "1700000000.000100",
                  **event: Any) -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
            "event_time": 1_700_000_000, "event": {"type": "message", "user": user, "text": text, "channel": channel,
                                                   "channel_type": "im", "ts": ts, **event}}


async def test_url_verification_needs_a_valid_signature(slack: Any) -> None:
    post, _, _ = slack
    challenge = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                 "type": "url_verification"}
    ok = await post(challenge)
    assert ok.status == 200 and await ok.json() == {"challenge": challenge["challenge"]}
    assert (await post(challenge, headers={"X-Slack-Signature": "v0=" + "0" * 64})).status == 403


async def test_message_is_answered_with_chat_post_message(slack: Any) -> None:
    post, api, store = slack
    assert (await post(message_event("/greet"))).status == 200
    [call] = api.calls
    assert (call["method"], call["path"]) == ("POST", "/api/chat.postMessage")
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert call["json"] == {"channel": "D456", "text": "Hi! How can I help?"}
    assert await user_texts(store, "U123") == ["/greet"]


async def test_buttons_are_block_kit_actions_and_a_click_is_a_payload(slack: Any) -> None:
    post, api, store = slack
    await post(message_event("/track_order"))
    assert api.bodies()[-1] == {"channel": "D456", "text": "Shall I look up your order?", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Shall I look up your order?"}},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Yes please", "emoji": True}, "value": "/affirm",
             "action_id": "kefu_button_0"},
            {"type": "button", "text": {"type": "plain_text", "text": "No thanks", "emoji": True}, "value": "/deny",
             "action_id": "kefu_button_1"}]}]}
    click = {"type": "block_actions", "user": {"id": "U123", "username": "mia"}, "channel": {"id": "D456"},
             "container": {"type": "message", "message_ts": "1700000000.000200"},
             "actions": [{"type": "button", "action_id": "kefu_button_0", "block_id": "b1", "value": "/affirm",
                          "action_ts": "1700000001.000300"}]}
    assert (await post(click, form=True)).status == 200
    assert api.bodies()[-1] == {"channel": "D456", "text": "Order A12345 is on its way."}
    assert await user_texts(store, "U123") == ["/track_order", "/affirm"]


async def test_retries_and_double_deliveries_are_processed_once(slack: Any) -> None:
    post, api, store = slack
    event = message_event("/greet", event_id="Ev42")
    assert (await post(event)).status == 200
    retry = await post(event, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status == 200
    mention = message_event("<@UBOT> /greet", event_id="Ev43", type="app_mention")  # same message, second subscription
    assert (await post(mention)).status == 200
    assert len(api.calls) == 1 and await user_texts(store, "U123") == ["/greet"]
    # a retry of an event that never arrived is processed
    lost = message_event("/deny", event_id="Ev44", ts="1700000009.000100")
    assert (await post(lost, headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"})).status == 200
    assert await user_texts(store, "U123") == ["/greet", "/deny"]


@pytest.mark.parametrize("tamper", ["signature", "stale", "future", "missing", "body"])
async def test_bad_signatures_are_403_and_nothing_is_processed(slack: Any, tamper: str) -> None:
    post, api, store = slack
    event = message_event("/greet", user="U999")
    if tamper == "signature":
        response = await post(event, headers={"X-Slack-Signature": "v0=" + "ab" * 32})
    elif tamper == "stale":  # correctly signed, but 6 minutes old: a replay
        response = await post(event, timestamp=int(time.time()) - 6 * 60)
    elif tamper == "future":
        response = await post(event, timestamp=int(time.time()) + 6 * 60)
    elif tamper == "missing":
        response = await post(event, headers={"X-Slack-Signature": "", "X-Slack-Request-Timestamp": ""})
    else:  # the signature of another body
        headers = slack_headers(SIGNING, json.dumps(message_event("/deny", user="U999")).encode())
        response = await post(event, headers=headers)
    assert response.status == 403
    assert api.calls == [] and await user_texts(store, "U999") == []


async def test_bot_messages_and_edits_are_ignored(slack: Any) -> None:
    post, api, store = slack
    await post(message_event("I am a bot", event_id="Ev7", bot_id="B1"))
    await post(message_event("edited", event_id="Ev8", subtype="message_changed"))
    assert api.calls == [] and await user_texts(store, "U123") == []


async def test_threads_and_channel_granularity(aiohttp_client: Any, aiohttp_server: Any) -> None:
    post, api, store = await _slack(aiohttp_client, aiohttp_server, use_threads=True,
                                    conversation_granularity="channel")
    await post(message_event("/greet", channel="C777", ts="1700000000.000900"))
    assert api.bodies()[-1] == {"channel": "C777", "text": "Hi! How can I help?", "thread_ts": "1700000000.000900"}
    assert await user_texts(store, "U123_C777") == ["/greet"]


def test_signing_secret_is_required() -> None:
    with pytest.raises(KefuError, match="slack: 'slack_signing_secret' is required"):
        create_app(Settings(credentials={"slack": {"slack_token": "xoxb"}}))
