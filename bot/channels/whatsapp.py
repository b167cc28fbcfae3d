"""WhatsApp Business Cloud API (Meta webhook) as an aiohttp sub-app, mounted at ``/webhooks/whatsapp/``.

credentials.yml::

    whatsapp:
      access_token: "EAAG..."            # system user token: Authorization for the Cloud API
      phone_number_id: "1234567890"      # the business phone number's id (messages are sent from it)
      verify_token: "my-verify-token"    # typed into the app's webhook settings
      app_secret: "app-secret"           # X-Hub-Signature-256 is checked with it
      api_base_url: "https://graph.facebook.com/v19.0"

- ``GET /webhooks/whatsapp/webhook``: Meta's ``hub.*`` verification handshake (403 on a wrong token).
- ``POST /webhooks/whatsapp/webhook``: ``whatsapp_business_account`` change notifications, signed
  with ``X-Hub-Signature-256`` (else 403, nothing processed). Text messages, reply-button and list
  taps (their id is the payload) and template quick-reply buttons are user messages; delivery
  statuses are ignored. The sender's ``wa_id`` is the conversation id.
- Replies: ``POST {api_base_url}/{phone_number_id}/messages``. Up to 3 buttons become interactive
  reply buttons (titles at most 20 characters, ids at most 256), 4 to 10 an interactive list (row
  titles at most 24), more a numbered text; images are image messages with a link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app_keys import HTTP, PROCESSOR
from bot.channels.base import OutputChannel, UserMessage
from bot.channels.facebook import forbidden, post_json, short_title, signed_json, verification_handler
from bot.errors import KefuError

logger = logging.getLogger(__name__)

CHANNEL_NAME = "whatsapp"
DEFAULT_API_BASE_URL = "https://graph.facebook.com/v19.0"
MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 4096
MAX_INTERACTIVE_BODY = 1024


@dataclass(frozen=True)
class WhatsAppConfig:
    """The ``whatsapp:`` section of credentials.yml."""

    access_token: str
    phone_number_id: str
    verify_token: str
    app_secret: str
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any]) -> WhatsAppConfig:
        values: dict[str, str] = {}
        for key in ("access_token", "phone_number_id", "verify_token", "app_secret"):
            value = credentials.get(key)
            if value is None or not str(value).strip():
                raise KefuError(f"credentials: whatsapp: '{key}' is required")
            values[key] = str(value).strip()
        return cls(**values, api_base_url=str(credentials.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"))


class WhatsAppOutputChannel(OutputChannel):
    """Sends each bot message with the Cloud API's ``/messages`` endpoint."""

    def __init__(self, config: WhatsAppConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session

    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME

    async def send(self, recipient_id: str, kind: str, content: dict[str, Any]) -> None:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient_id,
                "type": kind, kind: content}
        await post_json(self.session, f"{self.config.api_base_url}/{self.config.phone_number_id}/messages", body,
                        CHANNEL_NAME, headers={"Authorization": f"Bearer {self.config.access_token}"})

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        text = text.strip()
        while text:
            await self.send(recipient_id, "text", {"preview_url": False, "body": text[:MAX_TEXT_CHARS]})
            text = text[MAX_TEXT_CHARS:]

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        buttons = [b for b in buttons if isinstance(b, dict)]
        body = {"text": (text.strip() or "Please choose:")[:MAX_INTERACTIVE_BODY]}
        if len(buttons) <= MAX_REPLY_BUTTONS:
            await self.send(recipient_id, "interactive", {"type": "button", "body": body, "action": {"buttons": [
                {"type": "reply", "reply": {"id": _payload(b), "title": short_title(b.get("title"), MAX_BUTTON_TITLE)}}
                for b in buttons]}})
        elif len(buttons) <= MAX_LIST_ROWS:
            await self.send(recipient_id, "interactive", {"type": "list", "body": body, "action": {
                "button": "Choose", "sections": [{"title": "Options", "rows": [
                    {"id": _payload(b), "title": short_title(b.get("title"), MAX_ROW_TITLE)} for b in buttons]}]}})
        else:  # WhatsApp has no widget for more: a numbered list the shopper can answer
            lines = [text.strip()] + [f"{i + 1}. {b.get('title')}" for i, b in enumerate(buttons)]
            await self.send_text_message(recipient_id, "\n".join(line for line in lines if line))

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.send(recipient_id, "image", {"link": image})

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        if not isinstance(custom, dict) or not isinstance(custom.get("type"), str) or custom["type"] not in custom:
            logger.warning("whatsapp: a custom payload must be a Cloud API message ({'type': T, T: {...}}); got %r",
                           custom)
            return
        await self.send(str(custom.get("to") or recipient_id), custom["type"], custom[custom["type"]])


def _payload(button: dict[str, Any]) -> str:
    return str(button.get("payload") or button.get("title") or "")[:MAX_ID_CHARS]


def messages_of_notification(body: dict[str, Any]) -> list[UserMessage]:
    """The user messages in a Cloud API webhook body (``object: whatsapp_business_account``)."""
    if body.get("object") != "whatsapp_business_account":
        return []
    out: list[UserMessage] = []
    for entry in _list(body.get("entry")):
        for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                continue
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name")
                     for c in _list(value.get("contacts")) if isinstance(c, dict)}
            for item in _list(value.get("messages")):
                message = _user_message(item, names)
                if message is not None:
                    out.append(message)
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _user_message(item: Any, names: dict[Any, Any]) -> UserMessage | None:
    if not isinstance(item, dict) or not item.get("from"):
        return None
    kind = item.get("type")
    text: Any = None
    if kind == "text":
        text = (item.get("text") or {}).get("body")
    elif kind == "interactive":
        interactive = item.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        text = reply.get("id") or reply.get("title")
    elif kind == "button":
        button = item.get("button") or {}
        text = button.get("payload") or button.get("text")
    if not isinstance(text, str) or not text:
        return None
    sender = str(item["from"])
    message = UserMessage(text, sender, input_channel=CHANNEL_NAME,
                          metadata={"whatsapp": {"profile_name": names.get(item["from"])}} if names.get(item["from"]) else {})
    if isinstance(item.get("id"), str):
        message.message_id = item["id"]
    return message


def create_app(credentials: dict[str, Any]) -> web.Application:
    """The WhatsApp sub-app (``app.add_subapp("/webhooks/whatsapp/", create_app(credentials))``)."""
    config = WhatsAppConfig.from_credentials(credentials)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def receive(request: web.Request) -> web.Response:
        body = await signed_json(request, config.app_secret)
        if body is None:
            return forbidden()
        output = WhatsAppOutputChannel(config, request.config_dict[HTTP])
        for message in messages_of_notification(body):
            await request.config_dict[PROCESSOR].handle_message(message, output)
        return web.json_response({"status": "success"})

    app = web.Application()
    app.add_routes([web.get("/", health), web.get("/webhook", verification_handler(config.verify_token)),
                    web.post("/webhook", receive)])
    return app
