"""What every Kefu HTTP handler shares: request errors, JSON bodies, and the middlewares.

Typed errors become JSON at the edge (as rasa-sdk's endpoint does), in Rasa's error shape plus
``error`` and ``field``: a bad request is 400 naming the field, an unreachable store 503, never a
bare 500 page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web

from bot.auth import AuthError, check_request
from bot.errors import KefuError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

try:
    KEFU_VERSION = version("kefu")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    KEFU_VERSION = "0.0.0"
RASA_COMPATIBLE_VERSION = "3.6.21"
PUBLIC_PATHS = ("/", "/version", "/openapi.json")
PUBLIC_PREFIXES = ("/webhooks/",)


class RequestError(KefuError):
    """A request Kefu cannot serve as sent (HTTP 400 unless ``status`` says otherwise).

    :param field: the body field or query parameter at fault (``body`` for the body as a whole)
    :param message: what is wrong and what was expected
    """

    def __init__(self, field: str | None, message: str, status: int = 400, reason: str = "BadRequest") -> None:
        self.field = field
        self.message = message
        self.status = status
        self.reason = reason
        super().__init__(message)


def json_error(status: int, message: str, reason: str, field: str | None = None, **details: Any) -> web.Response:
    body: dict[str, Any] = {
        "version": KEFU_VERSION,
        "status": "failure",
        "message": message,
        "error": message,
        "reason": reason,
        "details": {**({"field": field} if field else {}), **details},
        "code": status,
    }
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


MAX_JSON_DEPTH = 64  # objects and arrays inside each other; Rasa's bodies need about 6
_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads joins valid pairs, so any left is unpaired


async def read_json(request: web.Request) -> Any:
    """The request body as JSON (400 naming ``body``, or the field, when it is not usable).

    Refused before any work is done: a body that is not JSON, nested deeper than :data:`MAX_JSON_DEPTH`, or with
    an unpaired UTF-16 surrogate (``"\\ud800"``: valid JSON, but not text; it cannot be stored or sent back)."""
    raw = await request.read()
    if not raw.strip():
        raise RequestError("body", "the request body is empty; send a JSON object")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError("body", "the request body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise RequestError("body", f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise RequestError("body", f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    check_json_text(body)
    return body


def check_json_text(value: Any, where: str = "body") -> None:
    """Raise :class:`RequestError` (naming the field) for nesting deeper than :data:`MAX_JSON_DEPTH` or an
    unpaired surrogate in any key or string. Iterative: a hostile body cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise RequestError(path, "contains an unpaired UTF-16 surrogate (like \\ud800), which is not text")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise RequestError(path, f"is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    raise RequestError(path, "has a key with an unpaired UTF-16 surrogate (like \\ud800)")
                stack.append((child, f"{path}.{key}", depth + 1))
        else:
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))


async def read_json_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise RequestError("body", f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def get_str(body: dict[str, Any], field: str, required: bool = True, max_chars: int | None = None) -> str | None:
    """``body[field]`` as a string (400 naming the field when missing, mistyped or too long)."""
    if field not in body or body[field] is None:
        if required:
            raise RequestError(field, f"'{field}' is required (a string)")
        return None
    value = body[field]
    if not isinstance(value, str):
        raise RequestError(field, f"'{field}' must be a string, not {type(value).__name__}")
    if max_chars is not None and len(value) > max_chars:
        raise RequestError(field, f"'{field}' is too long ({len(value)} characters; at most {max_chars})")
    return value


def get_dict(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RequestError(field, f"'{field}' must be a JSON object, not {type(value).__name__}")
    return value


def errors_middleware() -> Any:
    """Typed errors → JSON responses (the outermost Kefu middleware)."""
    from bot.message_guard import MessageRejectedError
    from bot.stores.errors import LockTimeoutError, StoreUnavailableError

    @web.middleware
    async def kefu_errors_to_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            return json_error(exc.status, exc.message, exc.reason, exc.field)
        except AuthError as exc:
            reason = "NotAuthenticated" if exc.status == 401 else "NotAuthorized"
            return json_error(exc.status, exc.message, reason)
        except StoreUnavailableError as exc:
            logger.error("%s", exc)
            return json_error(503, f"{exc.store} is unavailable right now ({exc.reason}); try again later",
                              "ServiceUnavailable", store=exc.store)
        except MessageRejectedError as exc:
            response = json_error(exc.status, exc.message, exc.reason)
            if exc.retry_after is not None:
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        except LockTimeoutError as exc:
            return json_error(503, f"the conversation is busy: {exc}; try again later", "ConversationBusy")
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            if exc.status == 413:
                return json_error(413, "the request body is too large", "PayloadTooLarge", "body")
            return json_error(exc.status, exc.reason, type(exc).__name__.removeprefix("HTTP"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("error while serving %s %s", request.method, request.path)
            return json_error(500, f"internal error: {type(exc).__name__}", "InternalError")

    return kefu_errors_to_json


def auth_middleware(auth_token: str | None, jwt_secret: str | None, jwt_method: str = "HS256") -> Any:
    """Checks ``?token=`` / Bearer JWT on every API path (channels, ``/`` and ``/version`` stay open)."""

    @web.middleware
    async def kefu_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if request.method != "OPTIONS" and path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            check_request(
                token=request.query.get("token"), authorization=request.headers.get("Authorization"),
                conversation_id=request.match_info.get("conversation_id"),
                auth_token=auth_token, jwt_secret=jwt_secret, jwt_method=jwt_method,
            )
        return await handler(request)

    return kefu_auth


def setup_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    """Answer preflight requests and add ``Access-Control-Allow-*`` headers for allowed origins.

    Headers are added when a response is prepared, so streamed replies get them too.
    """

    def allowed(origin: str | None) -> str | None:
        if not origin:
            return None
        if "*" in origins:
            return "*"
        return origin if origin in origins else None

    @web.middleware
    async def kefu_cors_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and allowed(request.headers.get("Origin")):
            return web.Response(status=204)
        return await handler(request)

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        origin = allowed(request.headers.get("Origin"))
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type, Authorization")
            if origin != "*":
                response.headers["Vary"] = "Origin"

    app.middlewares.insert(0, kefu_cors_preflight)
    app.on_response_prepare.append(add_headers)
