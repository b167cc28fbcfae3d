"""Which channels Kefu serves: credentials.yml section name → the channel that mounts it (Rasa's names).

Every channel is an aiohttp sub-app under ``/webhooks/<name>/``; the socket.io channel also attaches
its server at ``/socket.io/`` and serves the chat widget (``/``, ``/widget.js``). Credentials are
checked when the app is built, so a typo or a missing key stops ``kefu run`` with a message that
names the channel and the key.

=========  ==========================================  ======================================
name       served at                                   credentials (Kefu additions in italics)
=========  ==========================================  ======================================
rest       ``/webhooks/rest/webhook``                  none
socketio   ``/socket.io/``, ``/webhooks/socketio/``    see :mod:`bot.channels.socketio`
telegram   ``/webhooks/telegram/webhook``              access_token, verify, webhook_url, *secret_token*
facebook   ``/webhooks/facebook/webhook``              verify, secret, page-access-token
slack      ``/webhooks/slack/webhook``                 slack_token, slack_signing_secret, slack_channel
whatsapp   ``/webhooks/whatsapp/webhook``              access_token, phone_number_id, verify_token, app_secret
=========  ==========================================  ======================================

Every messaging channel takes ``api_base_url`` (where its outgoing API calls go).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.channels import facebook, rest, slack, socketio, telegram, whatsapp
from bot.errors import KefuError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _subapp(name: str, factory: Callable[[dict[str, Any]], web.Application]) -> Callable[..., set[str]]:
    def mount(app: web.Application, credentials: dict[str, Any], root_fallback: Handler | None = None) -> set[str]:
        app.add_subapp(f"/webhooks/{name}/", factory(credentials))
        return set()

    return mount


def _mount_socketio(app: web.Application, credentials: dict[str, Any], root_fallback: Handler | None = None) -> set[str]:
    socketio.mount(app, credentials, root_fallback)
    return set(socketio.PUBLIC_PATHS)


@dataclass(frozen=True)
class ChannelFactory:
    """How to serve one credentials.yml section.

    :param name: the section's name (Rasa's spelling)
    :param mount: adds the channel to the root app; returns the root paths it took over
    :param public_prefixes: paths outside ``/webhooks/`` that must stay open when the API needs a token
    """

    name: str
    mount: Callable[..., set[str]]
    public_prefixes: Callable[[dict[str, Any]], tuple[str, ...]] = lambda credentials: ()


CHANNELS: dict[str, ChannelFactory] = {
    factory.name: factory for factory in (
        ChannelFactory("rest", _subapp("rest", lambda credentials: rest.create_app())),
        ChannelFactory("socketio", _mount_socketio, socketio.public_prefixes),
        ChannelFactory("telegram", _subapp("telegram", telegram.create_app)),
        ChannelFactory("facebook", _subapp("facebook", facebook.create_app)),
        ChannelFactory("slack", _subapp("slack", slack.create_app)),
        ChannelFactory("whatsapp", _subapp("whatsapp", whatsapp.create_app)),
    )
}


# Rasa 3.6's built-in channels that Kefu does not serve, with what each is (Rasa's BUILTIN_CHANNELS).
RASA_CHANNELS_NOT_SERVED: dict[str, str] = {
    "rasa": "Rasa X / Rasa Enterprise's own channel",
    "callback": "Rasa's callback channel",
    "botframework": "Microsoft Bot Framework",
    "mattermost": "Mattermost",
    "rocketchat": "Rocket.Chat",
    "twilio": "Twilio SMS",
    "twilio_voice": "Twilio Voice",
    "webexteams": "Webex Teams",
    "hangouts": "Google Hangouts Chat",
    "cmdline": "Rasa's console channel",
}


def served_channels(credentials: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The sections to serve (an empty credentials file serves ``rest``).

    A Rasa channel Kefu does not serve (``rasa``, the Rasa X/Enterprise channel that ``rasa init``'s
    credentials list, ``twilio``, ``mattermost`` …) is skipped with one warning line; a name that is
    neither Kefu's nor Rasa's is an error.
    """
    if not credentials:
        return {"rest": {}}
    unserved = sorted(name for name in credentials if name in RASA_CHANNELS_NOT_SERVED)
    for name in unserved:
        logger.warning("credentials: channel '%s' (%s) is Rasa's, not served by Kefu; skipped", name,
                       RASA_CHANNELS_NOT_SERVED[name])
    unknown = sorted(set(credentials) - set(CHANNELS) - set(unserved))
    if unknown:
        raise KefuError(f"credentials: unknown channel(s) {', '.join(unknown)} "
                        f"(Kefu serves {', '.join(CHANNELS)})")
    served = {name: dict(section or {}) for name, section in credentials.items() if name in CHANNELS}
    return served or {"rest": {}}


def mount_channels(app: web.Application, credentials: dict[str, dict[str, Any]],
                   root_fallback: Handler | None = None) -> set[str]:
    """Mount every channel of ``credentials``; returns the root paths channels took over (e.g. ``/``).

    :param root_fallback: what ``GET /`` answers non-browsers when the widget's page takes ``/`` over
    """
    taken: set[str] = set()
    for name, section in served_channels(credentials).items():
        taken |= CHANNELS[name].mount(app, section, root_fallback)
    return taken


def public_prefixes(credentials: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """Paths (prefixes) the configured channels serve to anyone: the widget and socket.io."""
    prefixes: list[str] = []
    for name, section in served_channels(credentials).items():
        prefixes.extend(CHANNELS[name].public_prefixes(section))
    return tuple(prefixes)


def open_channel_paths(middleware: Middleware, credentials: dict[str, dict[str, Any]]) -> Middleware:
    """Wrap the API's auth middleware so the widget and socket.io stay open (Rasa serves them without a token)."""
    prefixes = public_prefixes(credentials)
    paths = set(socketio.PUBLIC_PATHS) if "socketio" in credentials else set()

    @web.middleware
    async def kefu_open_channels(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in paths or (prefixes and request.path.startswith(prefixes)):
            return await handler(request)
        return await middleware(request, handler)

    return kefu_open_channels
