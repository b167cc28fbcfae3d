"""Telegram (Bot API webhook) as an aiohttp sub-app, mounted at ``/webhooks/telegram/``.

credentials.yml::

    telegram:
      access_token: "123456:ABC..."          # the bot's token from @BotFather
      verify: "kefu_shop_bot"                # the bot's username (Rasa's key)
      webhook_url: "https://shop.example/webhooks/telegram/webhook"
      secret_token: "a-long-random-string"   # Kefu: required in X-Telegram-Bot-Api-Secret-Token
      api_base_url: "https://api.telegram.org"

- ``POST /webhooks/telegram/webhook``: an Update (``message``, ``edited_message`` or a button's
  ``callback_query``). With ``secret_token`` set, a request whose ``X-Telegram-Bot-Api-Secret-Token``
  header differs gets 403 and is not processed.
- ``GET /webhooks/telegram/set_webhook``: registers ``webhook_url`` (and the secret) with Telegram.
- Replies go to ``{api_base_url}/bot{access_token}/<method>``: ``sendMessage`` (buttons as an inline
  keyboard, ``reply_markup.inline_keyboard``), ``sendPhoto``, and for custom JSON the method its keys
  name (``photo`` → sendPhoto, ``latitude`` + ``longitude`` → sendLocation, ... as Rasa does).
  A button press is acknowledged with ``answerCallbackQuery``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app_keys import HTTP, PROCESSOR
from bot.channels.base import OutputChannel, UserMessage
from bot.errors import KefuError
from bot.web_utils import read_json_object

logger = logging.getLogger(__name__)

CHANNEL_NAME = "telegram"
DEFAULT_API_BASE_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT_CHARS = 4096
MAX_CALLBACK_DATA_BYTES = 64
LONG_PAYLOAD_PREFIX = "kefu:"
# custom JSON → Bot API method, first match wins (Rasa's TelegramOutput.send_custom_json)
CUSTOM_METHODS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("text",), "sendMessage"),
    (("photo",), "sendPhoto"),
    (("audio",), "sendAudio"),
    (("document",), "sendDocument"),
    (("sticker",), "sendSticker"),
    (("video",), "sendVideo"),
    (("video_note",), "sendVideoNote"),
    (("animation",), "sendAnimation"),
    (("voice",), "sendVoice"),
    (("media",), "sendMediaGroup"),
    (("latitude", "longitude", "title", "address"), "sendVenue"),
    (("latitude", "longitude"), "sendLocation"),
    (("phone_number", "first_name"), "sendContact"),
    (("game_short_name",), "sendGame"),
)


@dataclass(frozen=True)
class TelegramConfig:
    """The ``telegram:`` section of credentials.yml."""

    access_token: str
    verify: str | None = None
    webhook_url: str | None = None
    secret_token: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any]) -> TelegramConfig:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise KefuError("credentials: telegram: 'access_token' is required (the bot token from @BotFather)")
        secret = credentials.get("secret_token")
        if secret is None:
            logger.warning("credentials: telegram: no 'secret_token': anyone who knows the webhook URL can post "
                           "updates (set one; Telegram then sends it in %s)", SECRET_HEADER)
        return cls(access_token=token.strip(), verify=credentials.get("verify"),
                   webhook_url=credentials.get("webhook_url"), secret_token=str(secret) if secret is not None else None,
                   api_base_url=str(credentials.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"))


class LongPayloads:
    """Button payloads longer than Telegram's 64-byte ``callback_data``, kept here under a short key."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def data_for(self, payload: str) -> str:
        if len(payload.encode()) <= MAX_CALLBACK_DATA_BYTES and not payload.startswith(LONG_PAYLOAD_PREFIX):
            return payload
        key = LONG_PAYLOAD_PREFIX + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self.capacity:
            self._payloads.popitem(last=False)
        return key

    def payload_for(self, data: str) -> str:
        return self._payloads.get(data, data)


class TelegramOutputChannel(OutputChannel):
    """Calls the Bot API for each bot message; failures are logged, never raised into the turn."""

    def __init__(self, config: TelegramConfig, session: aiohttp.ClientSession, payloads: LongPayloads) -> None:
        self.config = config
        self.session = session
        self.payloads = payloads

    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME

    async def call(self, method: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST one Bot API method; the ``result`` or None (logged) when Telegram refused it."""
        url = f"{self.config.api_base_url}/bot{self.config.access_token}/{method}"
        try:
            async with self.session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=15)) as response:
                reply = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("telegram: %s failed: %s", method, exc)
            return None
        if not isinstance(reply, dict) or not reply.get("ok"):
            logger.warning("telegram: %s refused (HTTP %s): %s", method, response.status, reply)
            return None
        return reply

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        for part in _parts(text):
            await self.call("sendMessage", {"chat_id": recipient_id, "text": part})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        keys = [self._button(b) for b in buttons if isinstance(b, dict)]
        rows = [keys] if len(keys) <= 3 and all(len(k["text"]) <= 20 for k in keys) else [[k] for k in keys]
        parts = _parts(text) or ["\u2063"]  # sendMessage needs text; an invisible separator carries lone buttons
        for part in parts[:-1]:
            await self.call("sendMessage", {"chat_id": recipient_id, "text": part})
        await self.call("sendMessage", {"chat_id": recipient_id, "text": parts[-1],
                                        "reply_markup": {"inline_keyboard": rows}})

    def _button(self, button: dict[str, Any]) -> dict[str, str]:
        title = str(button.get("title") or button.get("payload") or "")
        payload = str(button.get("payload") or title)
        if button.get("url") or payload.startswith(("http://", "https://")):
            return {"text": title, "url": str(button.get("url") or payload)}
        return {"text": title, "callback_data": self.payloads.data_for(payload)}

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.call("sendPhoto", {"chat_id": recipient_id, "photo": image})

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        if not isinstance(custom, dict):
            logger.warning("telegram: custom payloads must be objects naming a Bot API call; got %r", custom)
            return
        body = copy.deepcopy(custom)
        chat_id = body.pop("chat_id", recipient_id)
        for keys, method in CUSTOM_METHODS:
            if all(body.get(key) is not None for key in keys):
                await self.call(method, {"chat_id": chat_id, **body})
                return
        logger.warning("telegram: custom payload with keys %s matches no Bot API call", sorted(body))


def _parts(text: str) -> list[str]:
    """Rasa sends each paragraph as its own message; Telegram also caps a message at 4096 characters."""
    out: list[str] = []
    for part in text.strip().split("\n\n"):
        part = part.strip()
        while part:
            out.append(part[:MAX_TEXT_CHARS])
            part = part[MAX_TEXT_CHARS:]
    return out


def secret_is_valid(expected: str | None, received: str | None) -> bool:
    """The webhook's secret-token header matches (always true when no secret is configured)."""
    if expected is None:
        return True
    return received is not None and hmac.compare_digest(received.encode(), expected.encode())


def message_of_update(update: dict[str, Any], payloads: LongPayloads) -> tuple[UserMessage | None, str | None]:
    """The user message in a Telegram Update, and the callback query id to acknowledge (if a button)."""
    try:
        return _message_of_update(update, payloads)
    except (AttributeError, TypeError):  # not an Update of the documented shape
        logger.warning("telegram: ignoring an update of an unknown shape: %.300r", update)
        return None, None


def _message_of_update(update: dict[str, Any], payloads: LongPayloads) -> tuple[UserMessage | None, str | None]:
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = ((query.get("message") or {}).get("chat") or {}).get("id") or (query.get("from") or {}).get("id")
        data = query.get("data")
        if chat is None or not isinstance(data, str):
            return None, query.get("id")
        return UserMessage(payloads.payload_for(data), str(chat), input_channel=CHANNEL_NAME,
                           metadata={"telegram": {"callback_query_id": query.get("id")}}), query.get("id")
    message = update.get("message") or update.get("edited_message")
    if not isinstance(message, dict):
        return None, None
    chat = (message.get("chat") or {}).get("id")
    text = message.get("text")
    if chat is None or not isinstance(text, str):
        return None, None
    return UserMessage(text, str(chat), input_channel=CHANNEL_NAME), None


def create_app(credentials: dict[str, Any]) -> web.Application:
    """The Telegram sub-app (``app.add_subapp("/webhooks/telegram/", create_app(credentials))``)."""
    config = TelegramConfig.from_credentials(credentials)
    payloads = LongPayloads()

    def output(request: web.Request) -> TelegramOutputChannel:
        return TelegramOutputChannel(config, request.config_dict[HTTP], payloads)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def receive(request: web.Request) -> web.Response:
        if not secret_is_valid(config.secret_token, request.headers.get(SECRET_HEADER)):
            logger.warning("telegram: refused an update with a missing or wrong %s", SECRET_HEADER)
            return web.json_response({"error": "invalid secret token"}, status=403)
        update = await read_json_object(request)
        message, callback_id = message_of_update(update, payloads)
        channel = output(request)
        if callback_id:
            await channel.call("answerCallbackQuery", {"callback_query_id": callback_id})
        if message is not None:
            await request.config_dict[PROCESSOR].handle_message(message, channel)
        return web.json_response({"status": "success"})

    async def set_webhook(request: web.Request) -> web.Response:
        if not config.webhook_url:
            return web.json_response({"error": "credentials: telegram: set 'webhook_url' first"}, status=400)
        body: dict[str, Any] = {"url": config.webhook_url, "allowed_updates": ["message", "edited_message", "callback_query"]}
        if config.secret_token:
            body["secret_token"] = config.secret_token
        reply = await output(request).call("setWebhook", body)
        if reply is None:
            return web.json_response({"status": "failure", "error": "Telegram refused the webhook"}, status=502)
        return web.json_response({"status": "success", "webhook_url": config.webhook_url})

    app = web.Application()
    app.add_routes([web.get("/", health), web.post("/webhook", receive), web.get("/set_webhook", set_webhook)])
    return app
