"""The right to be forgotten: erase a sender from every configured store and audit the deletion."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

logger = logging.getLogger(__name__)


def sender_hash(sender_id: str) -> str:
    """The pseudonym the audit log uses instead of the sender id (SHA-256, hex)."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()


def _name(store: Any) -> str:
    inner = getattr(store, "store", store)  # see through MaskingTrackerStore
    return type(inner).__name__


@dataclass
class ForgetReport:
    """What a deletion touched: store name → whether something was deleted there."""

    sender_hash: str
    time: float
    stores: dict[str, bool] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return any(self.stores.values())

    def to_json(self) -> dict[str, Any]:
        return {"event": "forget", "sender_hash": self.sender_hash, "time": self.time,
                "time_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)), "stores": self.stores}


async def forget_sender(
    sender_id: str,
    tracker_store: Any,
    lock_store: Any = None,
    history_stores: dict[str, Any] | None = None,
    audit_log: str | Path | None = None,
) -> ForgetReport:
    """Delete ``sender_id`` from the tracker store, its lock, and any recommendation history store.

    A history store is anything with ``forget(user_id) -> bool | int`` (sync or async), e.g.
    :meth:`backends.recommend.service.Recommender.forget`. The deletion is appended to
    ``audit_log`` (JSON lines) with the sender's hash, the time and the stores, never the content.
    """
    report = ForgetReport(sender_hash(sender_id), time.time())
    if lock_store is not None:
        async with lock_store.lock(sender_id):
            report.stores[f"tracker_store:{_name(tracker_store)}"] = bool(await tracker_store.delete(sender_id))
        delete = getattr(lock_store, "delete", None)
        report.stores[f"lock_store:{_name(lock_store)}"] = bool(await delete(sender_id)) if delete else False
    else:
        report.stores[f"tracker_store:{_name(tracker_store)}"] = bool(await tracker_store.delete(sender_id))
    for name, store in (history_stores or {}).items():
        result = store.forget(sender_id)
        if hasattr(result, "__await__"):
            result = await result
        report.stores[f"history:{name}"] = bool(result)
    if audit_log is not None:
        write_audit(audit_log, report.to_json())
    logger.info("forgot sender %s… (%s)", report.sender_hash[:12], ", ".join(
        f"{k}={'deleted' if v else 'absent'}" for k, v in report.stores.items()))
    return report


def write_audit(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line to the audit log (its folder is created when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


class RecommenderHistoryClient:
    """The recommendation service's shopper history, erased over HTTP (``DELETE /users/{id}/history``).

    :param url: the recommender's base URL (endpoints.yml ``privacy.recommender_url``)
    :param timeout: seconds to wait for the service
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    async def forget(self, user_id: str) -> bool:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.delete(
                f"{self.url}/users/{quote(user_id, safe='')}/history") as response:
            response.raise_for_status()
            return bool((await response.json()).get("deleted"))


def history_stores_of(recommender_url: str | None) -> dict[str, Any]:
    """The recommendation history stores a deletion must reach (none when no recommender is configured)."""
    return {"recommender": RecommenderHistoryClient(recommender_url)} if recommender_url else {}
