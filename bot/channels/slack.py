"""Slack (Events API + interactivity) as an aiohttp sub-app, mounted at ``/webhooks/slack/``.

credentials.yml (Rasa's keys)::

    slack:
      slack_token: "xoxb-..."                # bot token: Authorization for chat.postMessage
      slack_signing_secret: "..."            # every request's X-Slack-Signature is checked with it
      slack_channel: null                    # answer in this channel instead of the message's own
      use_threads: false                     # answer in the message's thread
      conversation_granularity: sender       # sender | channel | thread: what one conversation is
      api_base_url: "https://slack.com/api"  # Kefu: where Web API calls go

``POST /webhooks/slack/webhook`` takes Events API calls (JSON) and button clicks (form-encoded
``payload=``). Each must carry ``X-Slack-Request-Timestamp`` no more than 5 minutes off and
``X-Slack-Signature: v0=<HMAC-SHA256 of "v0:<timestamp>:<raw body>" with the signing secret>``,
else 403 and nothing is processed. ``url_verification`` is answered with its challenge. Slack
re-sends an event it thinks failed (``X-Slack-Retry-Num``): an event id (or a message ``channel:ts``)
already seen is answered 200 and not processed again, so the shopper gets one answer. Messages from
bots (the bot's own included) and edits are ignored.

Replies are ``chat.postMessage`` calls: text, buttons as Block Kit ``actions`` (the button ``value``
is the payload), images as ``image`` blocks, custom JSON as the call's body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

from bot.app_keys import HTTP, PROCESSOR
from bot.channels.base import OutputChannel, UserMessage
from bot.errors import KefuError
from bot.web_utils import RequestError

logger = logging.getLogger(__name__)

CHANNEL_NAME = "slack"
DEFAULT_API_BASE_URL = "https://slack.com/api"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
RETRY_HEADER = "X-Slack-Retry-Num"
MAX_CLOCK_SKEW_S = 5 * 60
MAX_BUTTON_TEXT = 75
GRANULARITIES = ("sender", "channel", "thread")
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


@dataclass(frozen=True)
class SlackConfig:
    """The ``slack:`` section of credentials.yml."""

    slack_token: str
    slack_signing_secret: str
    slack_channel: str | None = None
    use_threads: bool = False
    conversation_granularity: str = "sender"
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any]) -> SlackConfig:
        for key in ("slack_token", "slack_signing_secret"):
            if not isinstance(credentials.get(key), str) or not credentials[key].strip():
                raise KefuError(f"credentials: slack: '{key}' is required")
        granularity = credentials.get("conversation_granularity") or "sender"
        if granularity not in GRANULARITIES:
            raise KefuError(f"credentials: slack: 'conversation_granularity' must be one of {', '.join(GRANULARITIES)}, "
                            f"not {granularity!r}")
        return cls(slack_token=credentials["slack_token"], slack_signing_secret=credentials["slack_signing_secret"],
                   slack_channel=credentials.get("slack_channel"), use_threads=bool(credentials.get("use_threads")),
                   conversation_granularity=granularity,
                   api_base_url=str(credentials.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"))


def signature_valid(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                    now: float | None = None) -> bool:
    """Slack's v0 request signature, with the timestamp at most 5 minutes from ``now``."""
    if not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > MAX_CLOCK_SKEW_S:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


class SeenEvents:
    """Event ids handled lately (Slack retries an event it believes failed: process it once)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, *keys: str | None) -> bool:
        """Record ``keys``; False when any of them was recorded before."""
        keys_ = [k for k in keys if k]
        if any(k in self._seen for k in keys_):
            return False
        for key in keys_:
            self._seen[key] = None
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, *keys: str | None) -> None:
        """Let a retry of these events through again (their first handling failed)."""
        for key in keys:
            self._seen.pop(key, None)  # type: ignore[arg-type]


@dataclass
class SlackMessage:
    """One user message from Slack and where the answer goes."""

    message: UserMessage
    channel: str
    thread_ts: str | None
    keys: tuple[str | None, ...]


class SlackOutputChannel(OutputChannel):
    """Posts each bot message to one Slack channel (and thread)."""

    def __init__(self, config: SlackConfig, session: aiohttp.ClientSession, channel: str,
                 thread_ts: str | None = None) -> None:
        self.config = config
        self.session = session
        self.channel = config.slack_channel or channel
        self.thread_ts = thread_ts if config.use_threads else None

    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME

    async def post(self, body: dict[str, Any]) -> None:
        """``chat.postMessage``; Slack's ``{"ok": false}`` and transport errors are logged."""
        body = {"channel": self.channel, **body}
        if self.thread_ts:
            body.setdefault("thread_ts", self.thread_ts)
        headers = {"Authorization": f"Bearer {self.config.slack_token}"}
        try:
            async with self.session.post(f"{self.config.api_base_url}/chat.postMessage", json=body, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=15)) as response:
                reply = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("slack: chat.postMessage failed: %s", exc)
            return
        if not isinstance(reply, dict) or not reply.get("ok"):
            logger.warning("slack: chat.postMessage refused: %s", reply)

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        await self.post({"text": text})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        elements = []
        for index, button in enumerate(b for b in buttons if isinstance(b, dict)):
            title = str(button.get("title") or button.get("payload") or "")[:MAX_BUTTON_TEXT]
            elements.append({"type": "button", "text": {"type": "plain_text", "text": title, "emoji": True},
                             "value": str(button.get("payload") or title)[:2000], "action_id": f"kefu_button_{index}"})
        blocks: list[dict[str, Any]] = []
        if text.strip():
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        blocks.append({"type": "actions", "elements": elements[:25]})
        await self.post({"text": text or "Choose an option", "blocks": blocks})

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.post({"text": image, "blocks": [{"type": "image", "image_url": image, "alt_text": image}]})

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        if not isinstance(custom, dict):
            logger.warning("slack: custom payloads must be chat.postMessage arguments (an object); got %r", custom)
            return
        await self.post(dict(custom))


def conversation_id(config: SlackConfig, user: str, channel: str | None, thread_ts: str | None) -> str:
    """Rasa's conversation id for a Slack message: the user, or user_channel, or user_channel_thread."""
    if config.conversation_granularity == "channel" and channel:
        return f"{user}_{channel}"
    if config.conversation_granularity == "thread" and channel and thread_ts:
        return f"{user}_{channel}_{thread_ts}"
    return user


def message_of_event(config: SlackConfig, body: dict[str, Any]) -> SlackMessage | None:
    """The user message in an ``event_callback`` (``message`` or ``app_mention``), or None."""
    event = body.get("event")
    if body.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    if event.get("type") not in ("message", "app_mention") or event.get("bot_id") or event.get("subtype"):
        return None
    text, user, channel = event.get("text"), event.get("user"), event.get("channel")
    if not isinstance(text, str) or not isinstance(user, str) or not isinstance(channel, str):
        return None
    text = _MENTION.sub("", text).strip()
    if not text:
        return None
    thread_ts = event.get("thread_ts") or event.get("ts")
    metadata = {"slack": {"channel": channel, "ts": event.get("ts"), "team": body.get("team_id")}}
    message = UserMessage(text, conversation_id(config, user, channel, event.get("thread_ts")),
                          input_channel=CHANNEL_NAME, metadata=metadata)
    message_key = f"{channel}:{event['ts']}" if event.get("ts") else None
    return SlackMessage(message, channel, thread_ts, (body.get("event_id"), message_key))


def message_of_action(config: SlackConfig, payload: dict[str, Any]) -> SlackMessage | None:
    """The user message in a button click (``block_actions`` or the legacy ``interactive_message``)."""
    if payload.get("type") not in ("block_actions", "interactive_message"):
        return None
    actions = payload.get("actions") or []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    value = action.get("value") or (action.get("selected_option") or {}).get("value")
    user = (payload.get("user") or {}).get("id")
    channel = (payload.get("channel") or {}).get("id")
    if not isinstance(value, str) or not isinstance(user, str) or not isinstance(channel, str):
        return None
    container = payload.get("container") or {}
    thread_ts = (payload.get("message") or {}).get("thread_ts") or container.get("thread_ts")
    message = UserMessage(value, conversation_id(config, user, channel, thread_ts), input_channel=CHANNEL_NAME,
                          metadata={"slack": {"channel": channel, "action_ts": action.get("action_ts")}})
    key = f"action:{channel}:{action.get('action_ts')}" if action.get("action_ts") else None
    return SlackMessage(message, channel, thread_ts or container.get("message_ts"), (key,))


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    """A signed request body: JSON (Events API) or ``payload=<json>`` (interactivity)."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            payload = parse_qs(body.decode("utf-8")).get("payload", [""])[0]
            data = json.loads(payload)
            if isinstance(data, dict):
                return {"__interactive__": data}
        else:
            data = json.loads(body.decode("utf-8"))
            if isinstance(data, dict):
                return data
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    raise RequestError("body", "a Slack request body must be a JSON object or a form with a JSON 'payload'")


def create_app(credentials: dict[str, Any]) -> web.Application:
    """The Slack sub-app (``app.add_subapp("/webhooks/slack/", create_app(credentials))``)."""
    config = SlackConfig.from_credentials(credentials)
    seen = SeenEvents()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        if not signature_valid(config.slack_signing_secret, request.headers.get(TIMESTAMP_HEADER),
                               request.headers.get(SIGNATURE_HEADER), raw):
            logger.warning("slack: refused a request with a missing, wrong or stale signature")
            return web.json_response({"error": "invalid signature"}, status=403)
        body = _decode(raw, request.content_type)
        if body.get("type") == "url_verification":
            return web.json_response({"challenge": body.get("challenge")})
        try:
            if "__interactive__" in body:
                incoming = message_of_action(config, body["__interactive__"])
            else:
                incoming = message_of_event(config, body)
        except (AttributeError, TypeError):  # signed, but not of a documented shape
            logger.warning("slack: ignoring a request of an unknown shape: %.300r", body)
            incoming = None
        if incoming is None:
            return web.Response(text="")
        if not seen.first_time(*incoming.keys):
            logger.info("slack: event %s already handled (retry %s): not processed again",
                        incoming.keys, request.headers.get(RETRY_HEADER))
            return web.Response(text="", headers={"X-Slack-No-Retry": "1"})
        output = SlackOutputChannel(config, request.config_dict[HTTP], incoming.channel, incoming.thread_ts)
        try:
            await request.config_dict[PROCESSOR].handle_message(incoming.message, output)
        except Exception:
            seen.forget(*incoming.keys)  # the error becomes a 5xx: Slack's retry may try again
            raise
        return web.Response(text="")

    app = web.Application()
    app.add_routes([web.get("/", health), web.post("/webhook", receive)])
    return app
