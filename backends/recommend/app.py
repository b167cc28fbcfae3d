"""aiohttp app around ``Recommender``: ``GET /recommend``, product lookup, and shopper events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from backends.constants import EVENT_PURCHASE
from backends.errors import InvalidRequest
from backends.http import errors_to_json, health, int_param, read_json
from backends.recommend.service import Recommender

RECOMMENDER = web.AppKey("recommender", Recommender)


async def recommend(request: web.Request) -> web.Response:
    """``GET /recommend?user_id=&k=&context=&lang=``: ranked items with scores, complements and pitches
    (``lang``: ``en``, the default, or ``zh``)."""
    recommender = request.app[RECOMMENDER]
    body = recommender.recommend(request.query.get("user_id"), int_param(request, "k", 5),
                                 request.query.get("context"),
                                 request.query.get("exclude_purchased", "true").lower() != "false",
                                 request.query.get("lang", "en"))
    return web.json_response(body)


async def product(request: web.Request) -> web.Response:
    item = request.app[RECOMMENDER].product(request.match_info["item_id"])
    return web.json_response(item.to_json())


async def search(request: web.Request) -> web.Response:
    """``GET /products/search?q=``: products matching a name ("pegasus 40") or a category/brand."""
    items = request.app[RECOMMENDER].search(request.query.get("q", ""), int_param(request, "k", 5))
    return web.json_response({"query": request.query.get("q", ""), "items": [i.to_json() for i in items]})


async def record_event(request: web.Request) -> web.Response:
    """``POST /users/{user_id}/events {"item_id", "event"}``: a view or purchase the next request sees."""
    body = await read_json(request)
    item_id = body.get("item_id")
    if not isinstance(item_id, str):
        raise InvalidRequest("item_id (string) is required", code="missing_item_id")
    event = request.app[RECOMMENDER].record(request.match_info["user_id"], item_id,
                                            str(body.get("event", EVENT_PURCHASE)))
    return web.json_response({"user_id": event.user_id, "item_id": event.item_id, "event": event.event,
                              "ts": event.ts}, status=201)


async def history(request: web.Request) -> web.Response:
    recommender = request.app[RECOMMENDER]
    events = recommender.history(request.match_info["user_id"])
    return web.json_response({"user_id": recommender.resolve_user(request.match_info["user_id"]),
                              "events": [e.to_row() for e in events]})


async def forget_history(request: web.Request) -> web.Response:
    """``DELETE /users/{user_id}/history``: erase the shopper's history (the right to be forgotten)."""
    removed = request.app[RECOMMENDER].forget(request.match_info["user_id"])
    return web.json_response({"deleted": removed > 0, "events_removed": removed})


def create_app(recommender: Recommender | None = None, model_dir: Path | None = None,
               index: str = "auto") -> web.Application:
    """The recommendation service; pass a loaded ``recommender`` (tests) or a ``model_dir`` loaded at startup."""
    if recommender is None and model_dir is None:
        raise ValueError("create_app needs a recommender or a model_dir")
    app = web.Application(middlewares=[errors_to_json])

    async def load_model(app: web.Application) -> AsyncIterator[None]:
        app[RECOMMENDER] = recommender or await asyncio.to_thread(Recommender.load, Path(model_dir), index)
        yield

    app.cleanup_ctx.append(load_model)
    app.add_routes([
        web.get("/health", health),
        web.get("/recommend", recommend),
        web.get("/products/search", search),
        web.get("/products/{item_id}", product),
        web.post("/users/{user_id}/events", record_event),
        web.get("/users/{user_id}/history", history),
        web.delete("/users/{user_id}/history", forget_history),
    ])
    return app
