"""Rasa's socket.io channel (python-socketio on aiohttp), wire-compatible with Rasa 3.x web widgets.

credentials.yml (every key optional; Rasa's defaults)::

    socketio:
      user_message_evt: user_uttered   # event the widget emits with {"message", "session_id", <metadata_key>}
      bot_message_evt: bot_uttered     # event the bot emits with each message
      namespace: null                  # socket.io namespace (null: "/")
      session_persistence: false       # true: the conversation id is the widget's session id, not the socket id
      socketio_path: socket.io         # served at /<socketio_path>/
      jwt_key: null                    # set: a connection needs auth {"token": <HS256 JWT signed with it>}
      jwt_method: HS256
      metadata_key: metadata           # which field of user_uttered carries the message metadata

The protocol, as Rasa speaks it:

- the client emits ``session_request {"session_id"}``; the server joins the socket to that session's
  room (with session persistence) and answers ``session_confirm <session_id>`` (a new uuid4 hex if
  none was sent);
- the client emits ``user_uttered {"message", "session_id", "metadata"?}``; with session persistence a
  message without a session id is ignored, without it the sender id is the socket id;
- the bot emits ``bot_uttered`` with ``{"text"}``, ``{"text", "quick_replies": [{"content_type":
  "text", "title", "payload"}]}``, ``{"attachment": {"type": "image", "payload": {"src"}}}``,
  ``{"attachment": {"type": "template", "payload": {"template_type": "generic", "elements"}}}`` or a
  custom payload as it is (Rasa's ``{"data": ...}`` emit form is unwrapped as Rasa does).

Mounting also serves Kefu's chat widget: ``/widget.js`` (one ``<script>`` tag; it speaks the
Engine.IO v4 / Socket.IO v5 subset above over a plain WebSocket), ``/widget.css``, ``/static/`` and
the demo shop page at ``/`` for browsers (``Accept: text/html``; other clients still get the
server's hello text). ``GET /webhooks/socketio/`` is the channel's health check.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from bot.app_keys import PROCESSOR, SETTINGS
from bot.auth import SUPPORTED_JWT_ALGORITHMS, AuthError, decode_jwt
from bot.channels.base import OutputChannel, UserMessage
from bot.errors import KefuError
from bot.message_guard import MessageRejectedError

logger = logging.getLogger(__name__)

CHANNEL_NAME = "socketio"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SOCKETIO_SERVER: web.AppKey[socketio.AsyncServer] = web.AppKey("socketio_server", socketio.AsyncServer)
# Rasa's SocketIOOutput.send_custom_json calls sio.emit(event, **custom): these keys are emit's arguments
_EMIT_KEYS = frozenset({"data", "room", "to", "namespace", "skip_sid"})
SORRY_TEXT = "Sorry, something went wrong on our side. Please try again in a moment."


@dataclass(frozen=True)
class SocketIOConfig:
    """The ``socketio:`` section of credentials.yml (Rasa's keys and defaults)."""

    user_message_evt: str = "user_uttered"
    bot_message_evt: str = "bot_uttered"
    namespace: str | None = None
    session_persistence: bool = False
    socketio_path: str = "socket.io"
    jwt_key: str | None = None
    jwt_method: str = "HS256"
    metadata_key: str = "metadata"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SocketIOConfig:
        credentials = dict(credentials or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(credentials) - known)
        if unknown:
            logger.warning("credentials: socketio: ignoring unknown key(s) %s (known: %s)",
                           ", ".join(unknown), ", ".join(sorted(known)))
        values = {k: v for k, v in credentials.items() if k in known and v is not None}
        for key in ("user_message_evt", "bot_message_evt", "socketio_path", "jwt_method", "metadata_key"):
            if key in values and (not isinstance(values[key], str) or not values[key].strip()):
                raise KefuError(f"credentials: socketio: '{key}' must be a non-empty string, not {values[key]!r}")
        if "session_persistence" in values and not isinstance(values["session_persistence"], bool):
            raise KefuError("credentials: socketio: 'session_persistence' must be true or false, "
                            f"not {values['session_persistence']!r}")
        config = cls(**values)
        if config.jwt_key is not None and config.jwt_method not in SUPPORTED_JWT_ALGORITHMS:
            raise KefuError(f"credentials: socketio: jwt_method '{config.jwt_method}' is not supported "
                            f"(use one of {', '.join(SUPPORTED_JWT_ALGORITHMS)})")
        return config

    @property
    def path(self) -> str:
        """The URL path the socket.io server answers on (``/socket.io/``)."""
        return "/" + self.socketio_path.strip("/") + "/"

    def widget_defaults(self) -> dict[str, Any]:
        """What ``/widget.js`` needs to know to talk to this server (its script tag may override it)."""
        return {"socketPath": self.path.rstrip("/"), "namespace": self.namespace or "/",
                "userMessageEvt": self.user_message_evt, "botMessageEvt": self.bot_message_evt,
                "metadataKey": self.metadata_key, "sessionPersistence": self.session_persistence,
                "authRequired": self.jwt_key is not None}


class SocketIOOutputChannel(OutputChannel):
    """Emits the bot's messages to the conversation's room in Rasa's ``bot_uttered`` shapes."""

    def __init__(self, sio: socketio.AsyncServer, bot_message_evt: str, namespace: str | None = None) -> None:
        self.sio = sio
        self.bot_message_evt = bot_message_evt
        self.namespace = namespace

    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME

    async def _send_message(self, recipient_id: str, message: Any) -> None:
        await self.sio.emit(self.bot_message_evt, message, room=recipient_id, namespace=self.namespace)

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        parts = text.strip().split("\n\n") if text.strip() else [text]
        messages: list[dict[str, Any]] = [{"text": part, "quick_replies": []} for part in parts]
        messages[-1]["quick_replies"] = [
            {"content_type": "text", "title": button.get("title"), "payload": button.get("payload", button.get("title"))}
            for button in buttons if isinstance(button, dict)
        ]
        for message in messages:
            await self._send_message(recipient_id, message)

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self._send_message(recipient_id, {"attachment": {"type": "image", "payload": {"src": image}}})

    async def send_elements(self, recipient_id: str, elements: list[Any]) -> None:
        for element in elements:
            await self._send_message(recipient_id, {
                "attachment": {"type": "template", "payload": {"template_type": "generic", "elements": element}}})

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        if isinstance(custom, dict) and "data" in custom and set(custom) <= _EMIT_KEYS:
            room = custom.get("room") or custom.get("to") or recipient_id  # Rasa: emit(event, **custom)
            await self.sio.emit(self.bot_message_evt, custom["data"], room=room,
                                namespace=custom.get("namespace", self.namespace))
            return
        await self._send_message(recipient_id, custom)

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        await self._send_message(recipient_id, {"attachment": attachment})


class SocketIOChannel:
    """The socket.io input channel: event handlers on a python-socketio server attached to the app.

    :param config: the ``socketio:`` credentials
    :param app: the root application (its processor and settings exist once it has started)
    """

    def __init__(self, config: SocketIOConfig, app: web.Application) -> None:
        self.config = config
        self.app = app
        self.sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=_cors(app), logger=False,
                                        engineio_logger=False)
        namespace = config.namespace
        self.sio.on("connect", self.connect, namespace=namespace)
        self.sio.on("disconnect", self.disconnect, namespace=namespace)
        self.sio.on("session_request", self.session_request, namespace=namespace)
        self.sio.on(config.user_message_evt, self.handle_message, namespace=namespace)

    def output_channel(self) -> SocketIOOutputChannel:
        return SocketIOOutputChannel(self.sio, self.config.bot_message_evt, self.config.namespace)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        if self.config.jwt_key is None:
            return True
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token.strip():
            logger.info("socket.io: refused %s: no token in the connection's auth", sid)
            return False
        try:
            decode_jwt(token.strip().removeprefix("Bearer ").strip(), self.config.jwt_key, self.config.jwt_method)
        except AuthError as exc:
            logger.info("socket.io: refused %s: %s", sid, exc.message)
            return False
        return True

    async def disconnect(self, sid: str, *args: Any) -> None:
        logger.debug("socket.io: %s disconnected", sid)

    async def session_request(self, sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        session_id = data.get("session_id")
        if not isinstance(session_id, str) or not session_id.strip() or len(session_id) > 255:
            session_id = uuid.uuid4().hex
        if self.config.session_persistence:
            await self.sio.enter_room(sid, session_id, namespace=self.config.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.config.namespace)

    async def handle_message(self, sid: str, data: Any = None) -> None:
        message = self.user_message(sid, data)
        if message is None:
            return
        output = self.output_channel()
        try:
            await self.app[PROCESSOR].handle_message(message, output)
        except MessageRejectedError as exc:  # rate limit / size cap: say why, in the chat
            logger.warning("socket.io: message from %s refused: %s", message.sender_id, exc.message)
            await output.send_text_message(message.sender_id, exc.message)
        except Exception:  # the socket has no HTTP status to carry the error: tell the shopper, log the cause
            logger.exception("socket.io: turn of conversation %s failed", message.sender_id)
            await output.send_text_message(message.sender_id, SORRY_TEXT)

    def user_message(self, sid: str, data: Any) -> UserMessage | None:
        """The user message in a ``user_uttered`` payload, or None (logged) when it must be ignored."""
        if not isinstance(data, dict):
            logger.warning("socket.io: ignoring %s from %s: the payload must be an object", self.config.user_message_evt, sid)
            return None
        if self.config.session_persistence:
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or not session_id.strip():
                logger.warning("socket.io: ignoring a message without a session_id from %s (send session_request "
                               "first: session_persistence is on)", sid)
                return None
            sender_id = session_id
        else:
            sender_id = sid
        text = data.get("message", "")
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        max_chars = self.app[SETTINGS].max_message_chars
        if len(text) > max_chars:
            logger.warning("socket.io: ignoring a %d-character message from %s (at most %d)", len(text), sid, max_chars)
            return None
        metadata = data.get(self.config.metadata_key) or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except json.JSONDecodeError:
                metadata = {}
        if not isinstance(metadata, dict):
            metadata = {}
        return UserMessage(text, sender_id, input_channel=CHANNEL_NAME, metadata=metadata)

    async def close(self, app: web.Application) -> None:
        """Close every socket so the server can stop at once (an ``on_shutdown`` hook)."""
        if self.sio.eio.sockets:  # engine.io's disconnect-all fails when there is no socket
            await self.sio.eio.disconnect()
        await self.sio.shutdown()


def _cors(app: web.Application) -> Any:
    """Origins allowed to open a socket: any (``[]``, as Rasa serves it) unless ``--cors`` lists some;
    then those and the server's own pages (the widget's demo page)."""
    settings = app.get(SETTINGS)
    origins = tuple(getattr(settings, "cors_origins", ()) or ())
    if not origins:
        return []
    if "*" in origins:
        return "*"

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        host = environ.get("HTTP_HOST")
        return origin in origins or (bool(host) and origin in (f"http://{host}", f"https://{host}"))

    return allowed


# -- HTTP: health, widget, demo page ---------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@cache
def _static_text(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def widget_handler(config: SocketIOConfig) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``/widget.js``: the static widget with this server's socket.io settings in front of it."""
    prefix = f"window.KEFU_WIDGET_DEFAULTS = {json.dumps(config.widget_defaults())};\n"

    async def widget_js(request: web.Request) -> web.Response:
        return web.Response(text=prefix + _static_text("widget.js"), content_type="application/javascript",
                            headers={"Cache-Control": "no-cache"})

    return widget_js


async def widget_css(request: web.Request) -> web.Response:
    return web.Response(text=_static_text("widget.css"), content_type="text/css", headers={"Cache-Control": "no-cache"})


STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml", ".png": "image/png"}


async def static_file(request: web.Request) -> web.StreamResponse:
    """``/static/<name>``: the page's assets (a flat folder; only the types above, nothing else there)."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": STATIC_TYPES[path.suffix], "Cache-Control": "no-cache"})


def root_handler(fallback: Callable[[web.Request], Awaitable[web.StreamResponse]] | None
                 ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``/``: the demo shop page for browsers; ``fallback`` (the server's hello) for everything else."""

    async def root(request: web.Request) -> web.StreamResponse:
        if fallback is not None and "text/html" not in request.headers.get("Accept", ""):
            return await fallback(request)
        return web.Response(text=_static_text("index.html"), content_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    return root


PUBLIC_PATHS = ("/", "/widget.js", "/widget.css")
PUBLIC_PREFIXES = ("/static/",)


def public_prefixes(credentials: dict[str, Any] | None) -> tuple[str, ...]:
    """Paths the channel serves to anyone, whatever ``--auth-token`` says (widget, socket.io)."""
    return (*PUBLIC_PREFIXES, SocketIOConfig.from_credentials(credentials).path)


def create_app() -> web.Application:
    """The channel's sub-app (``/webhooks/socketio/``): Rasa's health check."""
    app = web.Application()
    app.add_routes([web.get("/", health)])
    return app


def mount(app: web.Application, credentials: dict[str, Any] | None,
          root_fallback: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None) -> SocketIOChannel:
    """Attach the socket.io server, the channel's sub-app and the widget's routes to the root ``app``."""
    config = SocketIOConfig.from_credentials(credentials)
    channel = SocketIOChannel(config, app)
    channel.sio.attach(app, socketio_path=config.socketio_path.strip("/"))
    app[SOCKETIO_SERVER] = channel.sio
    app.on_shutdown.append(channel.close)
    app.add_subapp(f"/webhooks/{CHANNEL_NAME}/", create_app())
    app.add_routes([
        web.get("/", root_handler(root_fallback)),
        web.get("/widget.js", widget_handler(config)),
        web.get("/widget.css", widget_css),
    ])
    app.router.add_get("/static/{name}", static_file)
    return channel
