"""``kefu run``: serve the assistant over HTTP (REST channel, and Rasa's server API with --enable-api)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bot.loaders.endpoints_loader import load_credentials, load_endpoints
from bot.model_archive import ModelError, resolve_model_path
from bot.server import DEFAULT_PORT, Settings

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

    settings = build_settings(args)
    app = create_app(settings)
    print(f"Kefu server on http://{args.interface}:{args.port} (model: {settings.model_path or 'none'}; "
          f"API {'on' if settings.enable_api else 'off'})", flush=True)
    web.run_app(app, host=args.interface, port=args.port, print=None, access_log=None)
    return 0
