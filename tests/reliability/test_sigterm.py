"""SIGTERM to ``kefu run`` while many requests are in flight: a graceful stop, no half-written turn.

A real ``kefu run`` keeps conversations in a SQLite file (``tracker_store: {type: sql, dialect: sqlite,
db: FILE}``); some turns wait 0.5 s on the action server, others are quick, and shoppers keep sending while
the signal arrives.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
from reliability_actions import WAIT_REPLY, WAIT_SECONDS
from reliability_support import (
    GREETING,
    ActionServer,
    Load,
    kefu_run,
    post_message,
    turn_is_complete,
    until,
    user_turns,
    write_endpoints,
)

QUICK_SHOPPERS = 16
SLOW_SHOPPERS = 8
EXIT_BOUND = 10.0  # seconds from SIGTERM to exit
REFUSALS = ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError")


def stored_events(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every conversation in the SQLite file, straight from Rasa's ``events`` table, in insertion order."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sender_id, data FROM events ORDER BY id").fetchall()
    conversations: dict[str, list[dict[str, Any]]] = {}
    for sender, data in rows:
        conversations.setdefault(sender, []).append(json.loads(data))
    return conversations


async def test_sigterm_lets_in_flight_turns_finish_and_exits_0_with_no_half_written_turn(
    trained_project: Path, action_server: ActionServer, tmp_path: Path
) -> None:
    db = tmp_path / "trackers.db"
    endpoints = write_endpoints(
        trained_project, "endpoints-sigterm.yml",
        f"tracker_store:\n  type: sql\n  dialect: sqlite\n  db: {db}\n"
        f"action_endpoint:\n  url: {action_server.url}\n  timeout: 10\n")
    load = Load()
    marks: dict[str, float] = {}

    with kefu_run(trained_project, "--endpoints", endpoints) as kefu:
        # no pooling limit: every request is on the wire at once, as with many independent shoppers
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            async def shopper(sender: str, text: str, rounds: int) -> None:
                for n in range(rounds):
                    outcome = await post_message(http, kefu.url, sender, text, f"{sender}-{n}", timeout=20)
                    load.outcomes.append(outcome)
                    if outcome.status is None:  # refused: the server is going away
                        return

            quick = [asyncio.create_task(shopper(f"quick-{i}", "/greet", 10_000)) for i in range(QUICK_SHOPPERS)]
            assert await until(lambda: len(load.with_status(200)) >= 2 * QUICK_SHOPPERS, 30)
            marks["slow"] = time.monotonic()
            slow = [asyncio.create_task(shopper(f"slow-{i}", "/wait_reply", 1)) for i in range(SLOW_SHOPPERS)]
            # the slow turns are being served once quick requests sent after them have come back
            assert await until(lambda: sum(o.started > marks["slow"] and o.status == 200
                                           for o in load.outcomes) >= QUICK_SHOPPERS, 30)
            marks["term"] = time.monotonic()
            assert kefu.process.poll() is None
            kefu.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(kefu.process.wait, EXIT_BOUND + 5)
            marks["exit"] = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*slow, *quick), 30)
    log = kefu.log.read_text(errors="replace")

    assert code == 0, log[-3000:]
    assert marks["exit"] - marks["term"] < EXIT_BOUND
    assert "Traceback" not in log and "error while serving" not in log, log[-3000:]

    # every request either completed with its real reply, or was refused at the connection (never a 5xx)
    statuses = load.statuses()
    assert set(statuses) <= {200, None}, statuses
    refused = load.with_status(None)
    assert all(o.error and o.error.startswith(REFUSALS) for o in refused), {o.error for o in refused}
    for outcome in load.with_status(200):
        text = WAIT_REPLY if outcome.sender.startswith("slow-") else GREETING
        assert outcome.body == [{"recipient_id": outcome.sender, "text": text}], outcome.body
    # the slow turns were in flight when the signal came, and were finished rather than cut off
    slow_outcomes = [o for o in load.outcomes if o.sender.startswith("slow-")]
    assert len(slow_outcomes) == SLOW_SHOPPERS
    assert all(o.status == 200 and o.started + o.seconds > marks["term"] for o in slow_outcomes), \
        [(o.status, o.error) for o in slow_outcomes]
    assert all(o.seconds >= WAIT_SECONDS * 0.9 for o in slow_outcomes)
    # the server stopped taking new work: shoppers still sending were refused
    assert refused, "nobody was refused: the load stopped before the signal?"

    conversations = stored_events(db)
    acknowledged = {o.message_id for o in load.with_status(200)}
    stored_ids: list[str] = []
    for sender, events in conversations.items():
        reply = WAIT_REPLY if sender.startswith("slow-") else GREETING
        for turn in user_turns(events):
            stored_ids.append(turn[0]["message_id"])
            assert turn_is_complete(turn, reply), f"half-written turn of {sender}: {turn}"
    assert len(stored_ids) == len(set(stored_ids))
    assert acknowledged <= set(stored_ids), f"acknowledged but not stored: {sorted(acknowledged - set(stored_ids))}"
    # and a refused message was not processed behind the shopper's back
    assert not {o.message_id for o in refused} & set(stored_ids)
