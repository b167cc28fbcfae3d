"""Facebook Messenger (Meta Graph API webhook) as an aiohttp sub-app, mounted at ``/webhooks/facebook/``.

credentials.yml (Rasa's keys)::

    facebook:
      verify: "my-verify-token"              # the token typed into the app's webhook settings
      secret: "app-secret"                   # the app secret: X-Hub-Signature-256 is checked with it
      page-access-token: "EAAB..."
      api_base_url: "https://graph.facebook.com/v19.0"   # Kefu: where Send API calls go

- ``GET /webhooks/facebook/webhook?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..``: Meta's
  verification handshake; answers the challenge when the token matches, else 403.
- ``POST /webhooks/facebook/webhook``: page events. ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the
  raw body with the app secret>`` must match, else 403 and nothing is processed. Text messages, quick
  reply taps (their payload) and postbacks (their payload) are user messages; echoes, deliveries and
  reads are ignored.
- Replies: ``POST {api_base_url}/me/messages?access_token=..`` with ``{"recipient": {"id"}, "message",
  "messaging_type": "RESPONSE"}``. Up to 3 buttons become a button template (Rasa's choice), more
  become quick replies (at most 13, titles cut to 20 characters); images are image attachments,
  ``elements`` a generic template, custom JSON is sent as the ``message``.

The verification handshake and the signature are Meta's, shared with :mod:`bot.channels.whatsapp`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.app_keys import HTTP, PROCESSOR
from bot.channels.base import OutputChannel, UserMessage
from bot.errors import KefuError
from bot.web_utils import read_json_object

logger = logging.getLogger(__name__)

CHANNEL_NAME = "facebook"
DEFAULT_API_BASE_URL = "https://graph.facebook.com/v19.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"
MAX_TEMPLATE_BUTTONS = 3
MAX_QUICK_REPLIES = 13
MAX_TITLE_CHARS = 20
MAX_TEXT_CHARS = 2000


# -- Meta webhooks (Messenger and WhatsApp Cloud API) ------------------------------------------------
def hub_signature_valid(secret: str, body: bytes, signature_256: str | None, signature_sha1: str | None = None) -> bool:
    """``X-Hub-Signature-256`` (or, only when it is absent, the legacy SHA-1 header) signs ``body``."""
    if signature_256 is not None:
        algorithm, expected_prefix, signature = hashlib.sha256, "sha256=", signature_256
    elif signature_sha1 is not None:
        algorithm, expected_prefix, signature = hashlib.sha1, "sha1=", signature_sha1
    else:
        return False
    signature = signature.strip().lower()
    expected = expected_prefix + hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def verification_handler(verify_token: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Meta's ``GET`` handshake: echo ``hub.challenge`` when ``hub.verify_token`` matches, else 403."""

    async def verify(request: web.Request) -> web.Response:
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token", "")
        if mode == "subscribe" and hmac.compare_digest(token.encode(), verify_token.encode()):
            return web.Response(text=request.query.get("hub.challenge", ""))
        logger.warning("%s: webhook verification refused (mode=%r, wrong verify token)", request.path, mode)
        return web.Response(text="failure, invalid token", status=403)

    return verify


async def signed_json(request: web.Request, secret: str) -> dict[str, Any] | None:
    """The body as JSON if its Meta signature is valid, else None (the caller answers 403)."""
    body = await request.read()
    if not hub_signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER),
                               request.headers.get(LEGACY_SIGNATURE_HEADER)):
        logger.warning("%s: refused a request with a missing or wrong %s", request.path, SIGNATURE_HEADER)
        return None
    return await read_json_object(request)  # the body is cached: read again as JSON (400 if it is not)


def forbidden(message: str = "invalid signature") -> web.Response:
    return web.json_response({"error": message}, status=403)


async def post_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any], what: str, **kwargs: Any) -> bool:
    """POST a Graph API call; failures are logged (never raised into the turn)."""
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=15), **kwargs) as response:
            if response.status >= 300:
                logger.warning("%s: API call refused (HTTP %s): %s", what, response.status, (await response.text())[:500])
                return False
            return True
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("%s: API call failed: %s", what, exc)
        return False


def short_title(title: Any, limit: int = MAX_TITLE_CHARS) -> str:
    """A button title within the platform's limit (cut with an ellipsis)."""
    title = str(title or "")
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "\u2026"


# -- Messenger ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FacebookConfig:
    """The ``facebook:`` section of credentials.yml."""

    verify: str
    secret: str
    page_access_token: str
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any]) -> FacebookConfig:
        for key in ("verify", "secret", "page-access-token"):
            if not isinstance(credentials.get(key), str) or not credentials[key].strip():
                raise KefuError(f"credentials: facebook: '{key}' is required")
        return cls(verify=credentials["verify"], secret=credentials["secret"],
                   page_access_token=credentials["page-access-token"],
                   api_base_url=str(credentials.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/"))


class FacebookOutputChannel(OutputChannel):
    """Sends each bot message with Messenger's Send API."""

    def __init__(self, config: FacebookConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session

    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME

    async def send(self, recipient_id: str, message: Any) -> None:
        await post_json(self.session, f"{self.config.api_base_url}/me/messages",
                        {"recipient": {"id": recipient_id}, "message": message, "messaging_type": "RESPONSE"},
                        CHANNEL_NAME, params={"access_token": self.config.page_access_token})

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        message = dict(message)
        if message.get("quick_replies"):  # Rasa: quick_replies are always Messenger quick replies
            await self.send_quick_replies(recipient_id, message.pop("text", "") or "", message.pop("quick_replies"))
        await super().send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        for part in text.strip().split("\n\n"):
            if part.strip():
                await self.send(recipient_id, {"text": part[:MAX_TEXT_CHARS]})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        buttons = [b for b in buttons if isinstance(b, dict)]
        if len(buttons) > MAX_TEMPLATE_BUTTONS:
            await self.send_quick_replies(recipient_id, text, buttons)
            return
        await self.send(recipient_id, {"attachment": {"type": "template", "payload": {
            "template_type": "button", "text": (text or "\u2063")[:640],
            "buttons": [_template_button(b) for b in buttons]}}})

    async def send_quick_replies(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        replies = [{"content_type": "text", "title": short_title(b.get("title")),
                    "payload": str(b.get("payload") or b.get("title"))[:1000]}
                   for b in buttons if isinstance(b, dict)][:MAX_QUICK_REPLIES]
        if len(buttons) > MAX_QUICK_REPLIES:
            logger.warning("facebook: only the first %d of %d quick replies are sent", MAX_QUICK_REPLIES, len(buttons))
        await self.send(recipient_id, {"text": (text or "\u2063")[:MAX_TEXT_CHARS], "quick_replies": replies})

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.send(recipient_id, {"attachment": {"type": "image", "payload": {"url": image, "is_reusable": True}}})

    async def send_elements(self, recipient_id: str, elements: list[Any]) -> None:
        await self.send(recipient_id, {"attachment": {"type": "template", "payload": {
            "template_type": "generic", "elements": elements[:10]}}})

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        await self.send(recipient_id, {"attachment": attachment})

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        if isinstance(custom, dict):
            custom = dict(custom)
            sender = custom.pop("sender", None)
            if isinstance(sender, dict) and sender.get("id"):
                recipient_id = str(sender["id"])
        await self.send(recipient_id, custom)


def _template_button(button: dict[str, Any]) -> dict[str, Any]:
    payload = str(button.get("payload") or button.get("title") or "")
    if button.get("url") or payload.startswith(("http://", "https://")):
        return {"type": "web_url", "title": short_title(button.get("title")), "url": button.get("url") or payload}
    return {"type": "postback", "title": short_title(button.get("title")), "payload": payload[:1000]}


def messages_of_event(body: dict[str, Any]) -> list[UserMessage]:
    """The user messages in a Messenger webhook body (``object: page``)."""
    if body.get("object") != "page":
        return []
    messages: list[UserMessage] = []
    for entry in _list(body.get("entry")):
        for event in _list(entry.get("messaging") if isinstance(entry, dict) else None):
            message = _user_message(event)
            if message is not None:
                messages.append(message)
    return messages


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _user_message(event: Any) -> UserMessage | None:
    if not isinstance(event, dict):
        return None
    sender = (event.get("sender") or {}).get("id")
    if sender is None:
        return None
    incoming = event.get("message")
    text: Any = None
    message_id = None
    if isinstance(incoming, dict):
        if incoming.get("is_echo"):
            return None
        quick_reply = incoming.get("quick_reply") or {}
        text = quick_reply.get("payload") or incoming.get("text")
        message_id = incoming.get("mid")
    elif isinstance(event.get("postback"), dict):
        text = event["postback"].get("payload") or event["postback"].get("title")
    if not isinstance(text, str) or not text:
        return None
    message = UserMessage(text, str(sender), input_channel=CHANNEL_NAME)
    if isinstance(message_id, str) and message_id:
        message.message_id = message_id
    return message


def create_app(credentials: dict[str, Any]) -> web.Application:
    """The Messenger sub-app (``app.add_subapp("/webhooks/facebook/", create_app(credentials))``)."""
    config = FacebookConfig.from_credentials(credentials)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def receive(request: web.Request) -> web.Response:
        body = await signed_json(request, config.secret)
        if body is None:
            return forbidden()
        output = FacebookOutputChannel(config, request.config_dict[HTTP])
        for message in messages_of_event(body):
            await request.config_dict[PROCESSOR].handle_message(message, output)
        return web.json_response({"status": "success"})

    app = web.Application()
    app.add_routes([web.get("/", health), web.get("/webhook", verification_handler(config.verify)),
                    web.post("/webhook", receive)])
    return app
