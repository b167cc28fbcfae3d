"""The right to be forgotten: DELETE /conversations/{id} and ``kefu forget`` erase every store, audited."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from aiohttp import web
from privacy_support import DOMAIN, privacy_agent, redis_section

from bot.commands.privacy_cmd import run_forget
from bot.loaders.endpoints_loader import Endpoints
from bot.server import Settings, create_app
from bot.stores import create_lock_store, create_tracker_store
from bot.tracker import DialogueStateTracker

SECRET_TEXT = "my card is 4111 1111 1111 1111 and I live at 1 Main St"


def _sql_count(postgres_url: str, sender_id: str) -> int:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                    {"s": sender_id}).scalar_one())
    finally:
        engine.dispose()


def _redis_keys(redis_url: str, sender_id: str) -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return list(client.scan_iter(f"*{sender_id}*"))
    finally:
        client.close()


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("store_kind", ["redis", "postgresql"])
async def test_delete_conversation_erases_every_store_and_is_audited(
        store_kind: str, request: pytest.FixtureRequest, redis_url: str, aiohttp_client: Any, aiohttp_server: Any,
        tmp_path: Path) -> None:
    forgotten: list[str] = []

    async def delete_history(req: web.Request) -> web.Response:
        first = req.match_info["user_id"] not in forgotten
        forgotten.append(req.match_info["user_id"])
        return web.json_response({"deleted": first, "events_removed": 3 if first else 0})

    reco = web.Application()
    reco.router.add_delete("/users/{user_id}/history", delete_history)
    reco_server = await aiohttp_server(reco)

    prefix = f"fg{uuid.uuid4().hex[:8]}"
    sender, other = f"{prefix}-gone", f"{prefix}-kept"
    if store_kind == "redis":
        tracker_config = redis_section(redis_url, key_prefix=prefix)
    else:
        tracker_config = {"type": "sql", "url": request.getfixturevalue("postgres_url")}
    audit = tmp_path / "audit" / "deletions.jsonl"
    endpoints = Endpoints(tracker_store=tracker_config, lock_store=redis_section(redis_url, key_prefix=prefix),
                          other={"privacy": {"audit_log": str(audit), "recommender_url": str(reco_server.make_url(""))}})
    client = await aiohttp_client(create_app(Settings(agent=privacy_agent(), enable_api=True, endpoints=endpoints)))
    for who in (sender, other):
        for text in ("/greet", SECRET_TEXT, '/inform{"email": "gone@example.com"}'):
            assert (await client.post("/webhooks/rest/webhook", json={"sender": who, "message": text})).status == 200

    def stored(who: str) -> int:
        if store_kind == "redis":
            return len(_redis_keys(redis_url, who))
        return _sql_count(request.getfixturevalue("postgres_url"), who)

    assert stored(sender) > 0 and stored(other) > 0
    response = await client.delete(f"/conversations/{sender}")
    assert response.status == 200
    body = await response.json()
    assert body["deleted"] is True and body["stores"]["history:recommender"] is True
    assert any(k.startswith("tracker_store:") and v for k, v in body["stores"].items())

    assert stored(sender) == 0 and _redis_keys(redis_url, sender) == []  # tracker and lock keys gone
    assert stored(other) > 0  # nobody else's conversation is touched
    assert forgotten == [sender]
    assert (await client.delete(f"/conversations/{sender}")).status == 404  # nothing left anywhere

    records = _audit_lines(audit)
    assert records[0]["sender_hash"] == hashlib.sha256(sender.encode()).hexdigest()
    assert set(records[0]["stores"]) >= {"history:recommender"} and records[0]["time"] > 0
    raw = audit.read_text()
    # the hashes are hex: look for the card number itself, not a 4-digit piece a hash may contain
    assert sender not in raw and "4111 1111" not in raw and "4111111111111111" not in raw
    assert "gone@example.com" not in raw
    await client.delete(f"/conversations/{other}")


def test_kefu_forget_erases_sql_and_redis_and_writes_the_audit_log(postgres_url: str, redis_url: str,
                                                                  tmp_path: Path) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    sender = f"{prefix}-shopper"
    audit = tmp_path / "forget.jsonl"
    endpoints = tmp_path / "endpoints.yml"
    parts = redis_section(redis_url, key_prefix=prefix)
    endpoints.write_text(
        f"tracker_store:\n  type: sql\n  url: {postgres_url}\n"
        f"lock_store:\n  type: redis\n  url: {parts['url']}\n  port: {parts['port']}\n  db: {parts['db']}\n"
        f"  key_prefix: {prefix}\n"
        f"privacy:\n  audit_log: {audit}\n")

    async def populate() -> None:
        store = create_tracker_store({"type": "sql", "url": postgres_url}, DOMAIN)
        locks = create_lock_store(parts)
        try:
            async with locks.lock(sender):
                await store.save(DialogueStateTracker(sender, {}, [
                    {"event": "user", "text": SECRET_TEXT, "parse_data": {"text": SECRET_TEXT}},
                    {"event": "slot", "name": "email", "value": "gone@example.com"}]))
        finally:
            await store.close()
            await locks.close()

    asyncio.run(populate())
    assert _sql_count(postgres_url, sender) == 2
    assert run_forget(argparse.Namespace(sender=sender, endpoints=str(endpoints), audit_log=None)) == 0
    assert _sql_count(postgres_url, sender) == 0
    assert _redis_keys(redis_url, sender) == []
    record = _audit_lines(audit)[0]
    assert record["event"] == "forget" and record["sender_hash"] == hashlib.sha256(sender.encode()).hexdigest()
    assert record["stores"]["tracker_store:SQLTrackerStore"] is True
    assert sender not in audit.read_text() and "4111 1111" not in audit.read_text()
