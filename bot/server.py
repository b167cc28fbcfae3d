"""The bot's aiohttp application: channels as sub-apps, the server API, stores and the action client.

``create_app(settings)`` builds exactly what ``kefu run`` serves, so tests drive the same app with
``aiohttp_client``. Setup and teardown live in cleanup contexts (the HTTP session, then the model,
stores and processor); ``web.run_app`` is only called by ``kefu run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot import api
from bot.actions import ActionClient, ActionEndpoint
from bot.agent import Agent
from bot.app_keys import HTTP, PROCESSOR, SETTINGS
from bot.channels import registry, rest
from bot.domain import Domain
from bot.loaders.endpoints_loader import Endpoints
from bot.message_guard import MessageGuard
from bot.nlu_batcher import BatchingSettings, NLUBatcher
from bot.offers import OfferSettings
from bot.privacy.pii import LogMasking, PiiMasker, PrivacySettings
from bot.privacy.store import MaskingTrackerStore
from bot.processor import DEFAULT_MAX_PREDICTIONS, HandoffSettings, MessageProcessor
from bot.web_utils import auth_middleware, errors_middleware, setup_cors

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5005
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass
class Settings:
    """Everything ``kefu run`` decides before serving (read once, never from globals).

    :param model_path: model directory or archive to load (``-m``)
    :param agent: an already loaded agent (tests); wins over ``model_path``
    :param endpoints: parsed endpoints.yml (stores, action server, ``handoff:``)
    :param credentials: parsed credentials.yml (which channels to serve)
    :param enable_api: serve the Rasa server API (``--enable-api``)
    :param auth_token: ``--auth-token`` for ``?token=``
    :param jwt_secret: ``--jwt-secret`` for ``Authorization: Bearer`` (HS256)
    :param cors_origins: ``--cors`` origins (``*`` for any)
    :param tracker_store: a store to use instead of endpoints.yml's (tests)
    :param lock_store: a lock store to use instead of endpoints.yml's (tests)
    :param max_message_chars: longest user message accepted
    :param max_predictions: most actions after one user message
    """

    model_path: str | None = None
    agent: Agent | None = None
    endpoints: Endpoints = field(default_factory=Endpoints)
    credentials: dict[str, dict[str, Any]] = field(default_factory=lambda: {"rest": {}})
    enable_api: bool = False
    auth_token: str | None = None
    jwt_secret: str | None = None
    jwt_method: str = "HS256"
    cors_origins: tuple[str, ...] = ()
    tracker_store: Any = None
    lock_store: Any = None
    max_message_chars: int = rest.DEFAULT_MAX_MESSAGE_CHARS
    max_predictions: int = DEFAULT_MAX_PREDICTIONS

    @property
    def handoff(self) -> HandoffSettings:
        return HandoffSettings.from_config(self.endpoints.other.get("handoff"))

    @property
    def offers(self) -> OfferSettings:
        return OfferSettings.from_config(self.endpoints.other.get("offers"))

    @property
    def guard(self) -> MessageGuard:
        """endpoints.yml's ``rate_limit:`` section plus ``max_message_chars`` (every channel)."""
        return MessageGuard.from_config(self.endpoints.other.get("rate_limit"), self.max_message_chars)

    @property
    def nlu_batching(self) -> BatchingSettings:
        """endpoints.yml's ``nlu_batching:`` section (absent: up to 16 messages, 2 ms wait)."""
        return BatchingSettings.from_config(self.endpoints.other.get("nlu_batching"))

    @property
    def privacy(self) -> PrivacySettings:
        """endpoints.yml's ``privacy:`` section (absent: mask every PII kind, no audit file)."""
        return PrivacySettings.from_config(self.endpoints.other.get("privacy"))


async def http_session(app: web.Application) -> AsyncIterator[None]:
    """One client session for the action server calls."""
    app[HTTP] = aiohttp.ClientSession()
    yield
    await app[HTTP].close()


async def dialogue_engine(app: web.Application) -> AsyncIterator[None]:
    """Load the model, open the stores, build the processor; close the stores at the end."""
    from bot.stores import create_lock_store, create_tracker_store

    settings = app[SETTINGS]
    agent = settings.agent
    if agent is None and settings.model_path:
        agent = await asyncio.to_thread(Agent.load, settings.model_path)
    if agent is None:
        logger.warning("no model loaded: the bot will only listen (train one with 'kefu train')")
        agent = Agent(domain=Domain())
    tracker_store = settings.tracker_store or create_tracker_store(settings.endpoints.tracker_store, agent.domain)
    lock_store = settings.lock_store or create_lock_store(settings.endpoints.lock_store)
    privacy = settings.privacy
    masker = PiiMasker(privacy)
    stored = MaskingTrackerStore(tracker_store, masker) if privacy.mask else tracker_store
    log_masking = LogMasking(masker)
    if privacy.mask_logs and privacy.mask:
        log_masking.install()
    endpoint = ActionEndpoint.from_config(settings.endpoints.action_endpoint)
    client = ActionClient(endpoint, session=app[HTTP]) if endpoint else None
    batcher = NLUBatcher(settings.nlu_batching)
    if agent.interpreter is not None:
        await batcher.prepare(agent.interpreter)  # the network's serving threads, before the first message
    app[PROCESSOR] = MessageProcessor(agent, stored, lock_store, client, settings.handoff,
                                      settings.max_predictions, settings.guard, batcher, settings.offers)
    logger.info("tracker store: %s; lock store: %s", _describe(tracker_store), _describe(lock_store))
    try:
        yield
    finally:
        await batcher.close()
        log_masking.uninstall()
        for store in (tracker_store, lock_store):
            if store is not settings.tracker_store and store is not settings.lock_store:
                try:
                    await store.close()
                except Exception as exc:  # closing must not hide the shutdown's cause
                    logger.warning("closing %s failed: %s", _describe(store), exc)


def _describe(store: Any) -> str:
    describe = getattr(store, "describe", None)
    return describe() if callable(describe) else type(store).__name__


def create_app(settings: Settings) -> web.Application:
    """The whole bot server: the channels of credentials.yml, optional server API, auth, CORS, error mapping."""
    channels = registry.served_channels(settings.credentials)  # unknown channel names: KefuError
    _ = settings.nlu_batching  # a malformed nlu_batching section fails here, before serving
    middlewares = [errors_middleware()]
    if settings.auth_token or settings.jwt_secret:
        middlewares.append(registry.open_channel_paths(  # the widget and socket.io need no API token
            auth_middleware(settings.auth_token, settings.jwt_secret, settings.jwt_method), channels))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    if settings.cors_origins:
        setup_cors(app, settings.cors_origins)
    app.cleanup_ctx.extend([http_session, dialogue_engine])
    taken = registry.mount_channels(app, channels, root_fallback=api.hello)  # socketio takes "/" for browsers
    app.add_routes([route for route in api.public_routes() if route.path not in taken])
    if settings.enable_api:
        app.add_routes(api.api_routes())
    return app
