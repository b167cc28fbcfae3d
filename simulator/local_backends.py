"""The shop's backends called in this process: the same service objects the HTTP apps wrap, no network.

The user simulator runs the real actions against an in-memory order database and the trained recommender. Each
method does what the backends' route handler does (``backends/orders/app.py``, ``backends/recommend/app.py``)
and answers what :mod:`actions.clients` would have decoded from the HTTP reply: the result as JSON, a
``BackendRejected`` for a 4xx error and ``BackendUnavailable`` for a 5xx one. Bind them to a context with
:func:`actions.clients.use_backends`; every action then calls them instead of the HTTP clients. They live here,
not in ``actions/``: the actions package imports nothing of Kefu, so the action server can run it alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from actions.clients import BackendRejected, BackendUnavailable
from backends.errors import BackendError


def _as_json(result: Any) -> dict[str, Any]:
    """What the HTTP client decodes from the app's ``web.json_response(result)``."""
    return json.loads(json.dumps(result))


def _call(service: str, call: Callable[[], Any]) -> dict[str, Any]:
    try:
        return _as_json(call())
    except BackendError as exc:
        if exc.status >= 500:
            raise BackendUnavailable(service, f"HTTP {exc.status}: {exc.code}") from exc
        raise BackendRejected(exc.status, exc.code, exc.message, exc.details or None) from exc


def _who(email: str | None, phone: str | None) -> dict[str, str | None]:
    return {"email": email if isinstance(email, str) else None, "phone": phone if isinstance(phone, str) else None}


class LocalOrders:
    """The order service (``backends.orders.service.OrderService``) as :class:`~actions.clients.OrdersClient`.

    Reads are memoised while the database is in its seeded state: a lookup's answer (or its error) is a pure
    function of that state, which every dialogue starts from (``begin_dialogue`` rolls the last one back). Once a
    dialogue writes (cancel, return, address), its reads go to the database until :meth:`new_dialogue`.

    :param orders: the order service
    :param seeded_reads: answers to reads in the seeded state (shared by every shop forked from one seed)
    """

    service = "order service"

    def __init__(self, orders: Any, seeded_reads: dict[tuple[Any, ...], Any] | None = None) -> None:
        self.orders = orders
        self.seeded_reads = seeded_reads if seeded_reads is not None else {}
        self.wrote = False

    def new_dialogue(self) -> None:
        """The database is back in its seeded state."""
        self.wrote = False

    def _read(self, key: tuple[Any, ...], call: Callable[[], Any]) -> dict[str, Any]:
        if self.wrote:
            return _call(self.service, call)
        if key not in self.seeded_reads:
            try:
                self.seeded_reads[key] = _call(self.service, call)
            except (BackendRejected, BackendUnavailable) as exc:
                self.seeded_reads[key] = exc
        answer = self.seeded_reads[key]
        if isinstance(answer, Exception):
            raise answer
        return json.loads(json.dumps(answer))  # a fresh copy: callers may change what they get

    def _write(self, call: Callable[[], Any]) -> dict[str, Any]:
        self.wrote = True
        return _call(self.service, call)

    async def get_order(self, order_id: str, email: str | None, phone: str | None) -> dict[str, Any]:
        return self._read(("get_order", order_id, email, phone),
                          lambda: self.orders.get_order(order_id, **_who(email, phone)))

    async def refund_status(self, order_id: str, email: str | None, phone: str | None) -> dict[str, Any]:
        return self._read(("refund_status", order_id, email, phone),
                          lambda: self.orders.refund_status(order_id, **_who(email, phone)))

    async def cancel(self, order_id: str, email: str | None, phone: str | None, key: str,
                     reason: str = "") -> dict[str, Any]:
        return self._write(lambda: self.orders.cancel_order(
            order_id, reason=str(reason or ""), idempotency_key=key, **_who(email, phone)))

    async def start_return(self, order_id: str, email: str | None, phone: str | None, reason: str,
                           key: str) -> dict[str, Any]:
        return self._write(lambda: self.orders.start_return(
            order_id, reason=str(reason or ""), idempotency_key=key, **_who(email, phone)))

    async def change_address(self, order_id: str, email: str | None, phone: str | None, new_address: str,
                             key: str) -> dict[str, Any]:
        return self._write(lambda: self.orders.change_address(
            order_id, new_address=str(new_address or ""), idempotency_key=key, **_who(email, phone)))


class LocalRecommender:
    """The recommendation service (``backends.recommend.service.Recommender``) as
    :class:`~actions.clients.RecommendClient`; ``None`` answers as a service whose model is not ready."""

    service = "recommendation service"

    def __init__(self, recommender: Any | None) -> None:
        self.recommender = recommender

    def _model(self) -> Any:
        if self.recommender is None:
            raise BackendUnavailable(self.service, "HTTP 503: model_not_ready")
        return self.recommender

    async def recommend(self, user_id: str, k: int, context: str, lang: str = "en") -> dict[str, Any]:
        return _call(self.service, lambda: self._model().recommend(user_id or None, int(k), context or None, True,
                                                                   lang))

    async def search(self, query: str, k: int = 3) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            items = self._model().search(query or "", int(k))
            return {"query": query or "", "items": [item.to_json() for item in items]}

        return _call(self.service, run)
