"""aiohttp app around ``OrderService``: JSON endpoints for lookups, cancel, return, refund status, address.

Credentials travel as ``email``/``phone`` (query string for GET, JSON body for POST); writes accept an
``Idempotency-Key`` header (or ``idempotency_key`` in the body). The service's blocking database calls run in a
worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from backends.constants import IDEMPOTENCY_HEADER
from backends.http import errors_to_json, health, read_json
from backends.orders.service import OrderService

ORDERS = web.AppKey("orders", OrderService)
RESEED = web.AppKey("reseed", object)  # set only for the simulated shop: puts its seeded state back


def _credentials(source: Any) -> dict[str, str | None]:
    email, phone = source.get("email"), source.get("phone")
    return {"email": email if isinstance(email, str) else None, "phone": phone if isinstance(phone, str) else None}


def _key(request: web.Request, body: dict[str, Any]) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER) or body.get("idempotency_key")
    return key if isinstance(key, str) else None


async def get_order(request: web.Request) -> web.Response:
    """``GET /orders/{order_id}?email=|phone=``: the order, if the contact detail matches."""
    service = request.app[ORDERS]
    view = await asyncio.to_thread(service.get_order, request.match_info["order_id"], **_credentials(request.query))
    return web.json_response(view)


async def refund_status(request: web.Request) -> web.Response:
    service = request.app[ORDERS]
    view = await asyncio.to_thread(service.refund_status, request.match_info["order_id"],
                                   **_credentials(request.query))
    return web.json_response(view)


async def cancel_order(request: web.Request) -> web.Response:
    """``POST /orders/{order_id}/cancel {"email"|"phone", "reason"}``."""
    body = await read_json(request)
    result = await asyncio.to_thread(request.app[ORDERS].cancel_order, request.match_info["order_id"],
                                     reason=str(body.get("reason") or ""), idempotency_key=_key(request, body),
                                     **_credentials(body))
    return web.json_response(result)


async def start_return(request: web.Request) -> web.Response:
    """``POST /orders/{order_id}/returns {"email"|"phone", "reason"}``."""
    body = await read_json(request)
    result = await asyncio.to_thread(request.app[ORDERS].start_return, request.match_info["order_id"],
                                     reason=str(body.get("reason") or ""), idempotency_key=_key(request, body),
                                     **_credentials(body))
    return web.json_response(result, status=200 if result.get("replayed") else 201)


async def change_address(request: web.Request) -> web.Response:
    """``POST /orders/{order_id}/address {"email"|"phone", "new_address"}``."""
    body = await read_json(request)
    result = await asyncio.to_thread(request.app[ORDERS].change_address, request.match_info["order_id"],
                                     new_address=str(body.get("new_address") or ""),
                                     idempotency_key=_key(request, body), **_credentials(body))
    return web.json_response(result)


async def reseed(request: web.Request) -> web.Response:
    """``POST /simulation/reseed``: the simulated shop's orders as seeded (``kefu backends --simulated-shop`` only;
    ``kefu sim evaluate --url`` calls it before each dialogue, as the in-process simulator rolls back)."""
    summary = await asyncio.to_thread(request.app[RESEED])
    return web.json_response({"orders": summary.orders})


def create_app(service: OrderService, close_on_cleanup: bool = False, reseed_with: Any = None) -> web.Application:
    """The order service's app; ``close_on_cleanup`` disposes the engine when the app stops; ``reseed_with``
    (a function that seeds the database again) adds ``POST /simulation/reseed``."""
    app = web.Application(middlewares=[errors_to_json])
    app[ORDERS] = service
    if reseed_with is not None:
        app[RESEED] = reseed_with
        app.router.add_post("/simulation/reseed", reseed)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        if close_on_cleanup:
            service.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes([
        web.get("/health", health),
        web.get("/orders/{order_id}", get_order),
        web.get("/orders/{order_id}/refund", refund_status),
        web.post("/orders/{order_id}/cancel", cancel_order),
        web.post("/orders/{order_id}/returns", start_return),
        web.post("/orders/{order_id}/address", change_address),
    ])
    return app
