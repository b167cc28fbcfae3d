"""``kefu run``: serve the assistant over HTTP (REST channel, and Rasa's server API with --enable-api)."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import KefuError
from bot.loaders.endpoints_loader import load_credentials, load_endpoints
from bot.model_archive import ModelError, resolve_model_path
from bot.server import DEFAULT_PORT, Settings

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-p", "--port", type=int, default=DEFAULT_PORT, help="port to serve on (default 5005)")
    parser.add_argument("-i", "--interface", default="0.0.0.0", help="interface to bind (default all)")
    parser.add_argument("-m", "--model", default="models", help="a model, or a folder of models (newest is used)")
    parser.add_argument("--enable-api", action="store_true", help="serve Rasa's HTTP server API too")
    parser.add_argument("--endpoints", default="endpoints.yml", help="endpoints file (stores, action server)")
    parser.add_argument("--credentials", default="credentials.yml", help="channels file")
    parser.add_argument("--auth-token", default=None, help="require ?token=<this> on API calls")
    parser.add_argument("--jwt-secret", default=None, help="accept 'Authorization: Bearer <JWT>' signed with this")
    parser.add_argument("--jwt-method", default="HS256", choices=["HS256"], help="JWT algorithm (HS256 only)")
    parser.add_argument("--cors", nargs="*", default=None, help="allowed CORS origins ('*' for any)")


def is_loopback(interface: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); hostnames count as exposed."""
    if interface.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_api_exposure(args: argparse.Namespace) -> None:
    """Refuse to serve the server API on a reachable interface without ``--auth-token`` or ``--jwt-secret``."""
    if args.enable_api and not (args.auth_token or args.jwt_secret) and not is_loopback(args.interface):
        raise KefuError(
            f"refusing to start: --enable-api on interface {args.interface} would let anyone on the network read "
            "and change conversations. Pass --auth-token <token> or --jwt-secret <secret>, or bind to a loopback "
            "interface with -i 127.0.0.1."
        )


def build_settings(args: argparse.Namespace) -> Settings:
    """Read every file and flag once, before anything is served."""
    model_path: str | None
    try:
        model_path = str(resolve_model_path(args.model))
    except ModelError as exc:
        logger.warning("%s; serving without a model", exc)
        model_path = None
    endpoints = load_endpoints(args.endpoints if Path(args.endpoints).exists() else None)
    credentials = load_credentials(args.credentials if Path(args.credentials).exists() else None)
    return Settings(
        model_path=model_path,
        endpoints=endpoints,
        credentials=credentials or {"rest": {}},
        enable_api=args.enable_api,
        auth_token=args.auth_token,
        jwt_secret=args.jwt_secret,
        jwt_method=args.jwt_method,
        cors_origins=tuple(args.cors or ()),
    )


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.server import create_app

    check_api_exposure(args)
    settings = build_settings(args)
    try:  # the privacy: and rate_limit: sections, checked before anything is served
        settings.privacy, settings.guard  # noqa: B018
    except ValueError as exc:
        raise KefuError(f"{args.endpoints}: {exc}") from exc
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    print(f"Kefu server on http://{args.interface}:{args.port} (model: {settings.model_path or 'none'}; "
          f"API {'on' if settings.enable_api else 'off'})", flush=True)
    web.run_app(app, host=args.interface, port=args.port, print=None, access_log=None)
    return 0


async def _freeze_startup_objects(app: web.Application) -> None:
    """Move everything loaded at startup (torch, the model, the domain: ~350k objects for the demo) out of
    the garbage collector's reach. They live as long as the process; without this every full collection
    walks them all (~170 ms on the development machine), a pause in every request then in flight."""
    gc.collect()
    gc.freeze()
    logger.debug("%d startup objects frozen out of garbage collection", gc.get_freeze_count())
