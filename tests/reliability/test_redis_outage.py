"""Redis stopped under load, then restarted: ``kefu run`` answers 503 meanwhile, recovers by itself, loses nothing.

A real ``kefu run`` process keeps its tracker store and its lock store in a private ``redis-server``
(persistence as a production Redis has it: ``SHUTDOWN SAVE`` writes the data set, a restart loads it).
Shoppers keep sending messages the whole time.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from reliability_support import (
    GREETING,
    Load,
    fetch_tracker,
    kefu_run,
    post_message,
    turn_is_complete,
    until,
    user_turns,
    write_endpoints,
)

from bot.stores.lock_store import RedisLockStore
from bot.stores.redis_connection import RedisSettings

SENDERS = 12
REQUEST_TIMEOUT = 30.0  # the client's own limit: far above the bound asserted below, so a hang shows as a hang
LATENCY_BOUND = 5.0  # seconds any request may take, outage or not
PHASE_TIMEOUT = 30.0


def shutdown_with_save(port: int, timeout: float = 10.0) -> None:
    """Stop Redis as an operator does (``SHUTDOWN SAVE``): the data set is written, then the process exits.

    Spoken over a plain socket: a client library would retry the connection the server closes on purpose.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"SHUTDOWN SAVE\r\n")
        reply = sock.recv(256)  # b"" once the server has gone; an error line if it refused
    assert not reply.startswith(b"-"), reply


async def test_redis_down_gives_503_then_kefu_recovers_without_losing_acknowledged_messages(
    trained_project: Path, redis_server_factory: Callable[[], Any]
) -> None:
    server = redis_server_factory()
    endpoints = write_endpoints(trained_project, "endpoints-redis-outage.yml",
                                f"tracker_store:\n  type: redis\n  url: {server.url}\n"
                                f"lock_store:\n  type: redis\n  url: {server.url}\n")
    load = Load()
    stop_load = asyncio.Event()
    marks: dict[str, float] = {}

    with kefu_run(trained_project, "--endpoints", endpoints, token="tok") as kefu:
        async with aiohttp.ClientSession() as http:
            async def shopper(index: int) -> None:
                for n in range(100_000):  # bounded; stops on stop_load long before
                    if stop_load.is_set():
                        return
                    outcome = await post_message(http, kefu.url, f"shopper-{index}", "/greet",
                                                 f"shopper-{index}-{n}", timeout=REQUEST_TIMEOUT)
                    load.outcomes.append(outcome)
                    if outcome.status != 200:
                        await asyncio.sleep(0.02)  # a client backing off a little after a refusal

            def ok_after(mark: str) -> list[Any]:
                return [o for o in load.with_status(200) if o.started > marks.get(mark, float("inf"))]

            def missing() -> set[str]:
                return {f"shopper-{i}" for i in range(SENDERS)} - {o.sender for o in ok_after("up_done")}

            shoppers = [asyncio.create_task(shopper(i)) for i in range(SENDERS)]
            try:
                assert await until(lambda: len(load.with_status(200)) >= 5 * SENDERS, PHASE_TIMEOUT), load.statuses()

                marks["down"] = time.monotonic()
                await asyncio.to_thread(shutdown_with_save, server.port)
                await asyncio.to_thread(server.process.wait, 10)
                marks["down_done"] = time.monotonic()
                assert await until(
                    lambda: sum(o.started > marks["down_done"] for o in load.outcomes) >= 3 * SENDERS, PHASE_TIMEOUT)

                marks["up"] = time.monotonic()
                await asyncio.to_thread(server.start)  # same port, same folder: loads the saved data set
                marks["up_done"] = time.monotonic()
                assert await until(lambda: not missing(), PHASE_TIMEOUT), (
                    f"shoppers never served after Redis came back: {missing()} ({load.statuses()})")
            finally:
                stop_load.set()
                await asyncio.wait_for(asyncio.gather(*shoppers), REQUEST_TIMEOUT + 5)

            trackers = {f"shopper-{i}": await fetch_tracker(http, kefu, f"shopper-{i}") for i in range(SENDERS)}

    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, f"only 200 and 503 are acceptable, got {statuses}: " + "; ".join(
        f"{o.status} {o.error or o.body}" for o in load.outcomes if o.status not in (200, 503))[:2000]
    slowest = max(load.outcomes, key=lambda o: o.seconds)
    assert slowest.seconds < LATENCY_BOUND, f"a request took {slowest.seconds:.1f} s ({slowest.status})"

    # While Redis was down every request was refused with a clear JSON body.
    during = [o for o in load.outcomes if marks["down_done"] < o.started and o.started + o.seconds < marks["up"]]
    assert len(during) >= 3 * SENDERS
    assert all(o.status == 503 for o in during), {o.status for o in during}
    for outcome in load.with_status(503):
        body = outcome.body
        assert isinstance(body, dict) and body["status"] == "failure" and body["code"] == 503, body
        assert body["reason"] == "ServiceUnavailable" and body["details"]["store"] in ("tracker store", "lock store")
        assert "unavailable" in body["message"] and "try again later" in body["message"], body

    # Kefu recovered without a restart: every shopper was served again, quickly.
    recovered = ok_after("up_done")
    assert recovered and all(o.body == [{"recipient_id": o.sender, "text": GREETING}] for o in recovered)

    # 0 lost: every acknowledged message is stored once, with the bot's reply after it.
    acknowledged = load.with_status(200)
    lost, duplicated, incomplete = [], [], []
    for sender, tracker in trackers.items():
        turns = {t[0].get("message_id"): t for t in user_turns(tracker["events"])}
        ids = [t[0].get("message_id") for t in user_turns(tracker["events"])]
        duplicated += [i for i in set(ids) if ids.count(i) > 1]
        for outcome in (o for o in acknowledged if o.sender == sender):
            turn = turns.get(outcome.message_id)
            if turn is None:
                lost.append(outcome.message_id)
            elif not turn_is_complete(turn):
                incomplete.append(outcome.message_id)
    assert (lost, duplicated, incomplete) == ([], [], []), f"of {len(acknowledged)} acknowledged messages"


async def test_a_lock_whose_release_failed_is_freed_as_soon_as_redis_is_back(
    redis_server_factory: Callable[[], Any]
) -> None:
    """The turn ends while Redis is down; Redis comes back with its data: the conversation is not locked for
    the whole ``lock_lifetime`` (60 s by default) by a turn that is long over."""
    server = redis_server_factory()
    store = RedisLockStore(RedisSettings(host=server.url, socket_timeout=2), lock_lifetime=60, wait_timeout=10)
    try:
        async with store.lock("shopper"):
            await asyncio.to_thread(shutdown_with_save, server.port)
            await asyncio.to_thread(server.process.wait, 10)
        # the release failed quietly (the turn's work was done); Redis restarts with the lock saved in it
        await asyncio.to_thread(server.start)
        started = time.monotonic()
        async with store.lock("shopper"):
            waited = time.monotonic() - started
        assert waited < 3.0, f"waited {waited:.1f} s for a lock nobody holds"
        assert await store.queue_length("shopper") == 0
    finally:
        await store.close()
