"""HTTP clients of the shop's backends (order service, recommendation service), on aiohttp with timeouts.

Two typed errors are all an action has to handle: ``BackendUnavailable`` (connection refused, timeout, a 5xx,
an unreadable body) and ``BackendRejected`` (a 4xx with the backend's ``error`` code and message).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from actions.constants import IDEMPOTENCY_HEADER
from actions.settings import ActionSettings, get_settings


class BackendUnavailable(Exception):
    """The backend could not be reached or failed (the shopper is offered a human)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} unavailable: {reason}")
        self.service = service
        self.reason = reason


class BackendRejected(Exception):
    """The backend answered 4xx: ``code`` is its stable error code (``order_not_found``, ``not_cancellable``...)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def _path(*segments: str) -> str:
    """A URL path with every segment percent-encoded, so "A1/../x?y" stays one harmless segment."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


class _Client:
    service = "backend"

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        url = URL(self.base_url + path, encoded=True)
        query = {k: str(v) for k, v in (params or {}).items() if v not in (None, "")}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:  # noqa: SIM117
                async with session.request(method, url, params=query or None, json=body, headers=headers) as reply:
                    text = await reply.text()
                    status = reply.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise BackendUnavailable(self.service, f"{type(exc).__name__}: {exc}") from exc
        try:
            data = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise BackendUnavailable(self.service, f"HTTP {status} with a body that is not JSON") from exc
        if status >= 500:
            raise BackendUnavailable(self.service, f"HTTP {status}: {data.get('error', '')}")
        if status >= 400:
            raise BackendRejected(status, str(data.get("error", "rejected")), str(data.get("message", "")),
                                  data.get("details") if isinstance(data.get("details"), dict) else None)
        if not isinstance(data, dict):
            raise BackendUnavailable(self.service, "the reply is not a JSON object")
        return data


class OrdersClient(_Client):
    """The order service: every call carries the shopper's email or phone."""

    service = "order service"

    @classmethod
    def from_settings(cls, settings: ActionSettings | None = None) -> OrdersClient:
        settings = settings or get_settings()
        return cls(settings.orders_url, settings.timeout_s)

    async def get_order(self, order_id: str, email: str | None, phone: str | None) -> dict[str, Any]:
        return await self._request("GET", _path("orders", order_id), params={"email": email, "phone": phone})

    async def refund_status(self, order_id: str, email: str | None, phone: str | None) -> dict[str, Any]:
        return await self._request("GET", _path("orders", order_id, "refund"), params={"email": email, "phone": phone})

    async def cancel(self, order_id: str, email: str | None, phone: str | None, key: str,
                     reason: str = "") -> dict[str, Any]:
        return await self._request("POST", _path("orders", order_id, "cancel"),
                                   body={"email": email, "phone": phone, "reason": reason},
                                   headers={IDEMPOTENCY_HEADER: key})

    async def start_return(self, order_id: str, email: str | None, phone: str | None, reason: str,
                           key: str) -> dict[str, Any]:
        return await self._request("POST", _path("orders", order_id, "returns"),
                                   body={"email": email, "phone": phone, "reason": reason},
                                   headers={IDEMPOTENCY_HEADER: key})

    async def change_address(self, order_id: str, email: str | None, phone: str | None, new_address: str,
                             key: str) -> dict[str, Any]:
        return await self._request("POST", _path("orders", order_id, "address"),
                                   body={"email": email, "phone": phone, "new_address": new_address},
                                   headers={IDEMPOTENCY_HEADER: key})


class RecommendClient(_Client):
    """The recommendation service."""

    service = "recommendation service"

    @classmethod
    def from_settings(cls, settings: ActionSettings | None = None) -> RecommendClient:
        settings = settings or get_settings()
        return cls(settings.reco_url, settings.timeout_s)

    async def recommend(self, user_id: str, k: int, context: str, lang: str = "en") -> dict[str, Any]:
        return await self._request("GET", "/recommend",
                                   params={"user_id": user_id, "k": k, "context": context, "lang": lang})

    async def search(self, query: str, k: int = 3) -> dict[str, Any]:
        return await self._request("GET", "/products/search", params={"q": query, "k": k})


@dataclass(frozen=True)
class BoundBackends:
    """Backends an in-process caller (the user simulator) put in place of the HTTP clients."""

    orders: Any
    recommender: Any


_BOUND: ContextVar[BoundBackends | None] = ContextVar("kefu_bound_backends", default=None)


@contextmanager
def use_backends(orders: Any, recommender: Any) -> Iterator[None]:
    """Within this context (this task and the tasks it starts), actions call these objects (same methods as
    :class:`OrdersClient` and :class:`RecommendClient`) instead of the services over HTTP."""
    token = _BOUND.set(BoundBackends(orders, recommender))
    try:
        yield
    finally:
        _BOUND.reset(token)


def orders_client() -> Any:
    """The order service for this call: the bound one, else the HTTP client from the settings."""
    bound = _BOUND.get()
    return bound.orders if bound is not None else OrdersClient.from_settings()


def recommend_client() -> Any:
    """The recommendation service for this call: the bound one, else the HTTP client from the settings."""
    bound = _BOUND.get()
    return bound.recommender if bound is not None else RecommendClient.from_settings()
