"""HTTP edge shared by the backends' aiohttp apps: typed errors -> JSON bodies with status codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from backends.errors import BackendError, InvalidRequest

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_to_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``BackendError`` -> its status and ``{"error", "message"}``; aiohttp's HTTP errors and crashes -> JSON too."""
    try:
        return await handler(request)
    except BackendError as exc:
        return web.json_response(exc.to_json(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"), "message": exc.reason},
                                 status=exc.status)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal_error", "message": "internal error"}, status=500)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); anything else is a 400."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="invalid_json")
    return body


def int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}", code=f"invalid_{name}") from exc


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
