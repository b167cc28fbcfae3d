"""The action server hangs or dies while ``kefu run`` serves shoppers: they get a polite reply, never a 500.

Real processes: ``kefu run`` and ``kefu run actions`` (rasa-sdk's server with :mod:`reliability_actions`),
the bot's ``action_endpoint`` with a 1 s ``timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from reliability_actions import ORDER_REPLY
from reliability_support import (
    ActionServer,
    KefuServer,
    Load,
    fetch_tracker,
    kefu_run,
    post_message,
    until,
    write_endpoints,
)

from bot.processor import POLITE_ERROR_TEXT

ACTION_TIMEOUT = 2.0  # action_endpoint.timeout in endpoints.yml (room for the kill to land mid-request)
RETRY_DELAY = 0.1
CONNECT_RETRIES = 2
SHOPPERS = 6
PHASE_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def kefu(trained_project: Path, action_server: ActionServer) -> Iterator[KefuServer]:
    endpoints = write_endpoints(
        trained_project, "endpoints-actions.yml",
        f"action_endpoint:\n  url: {action_server.url}\n  timeout: {ACTION_TIMEOUT}\n"
        f"  connect_retries: {CONNECT_RETRIES}\n  retry_delay: {RETRY_DELAY}\n")
    with kefu_run(trained_project, "--endpoints", endpoints, token="tok") as server:
        yield server


def polite(outcome: Any) -> bool:
    return outcome.status == 200 and outcome.body == [{"recipient_id": outcome.sender, "text": POLITE_ERROR_TEXT}]


def served(outcome: Any) -> bool:
    return outcome.status == 200 and outcome.body == [{"recipient_id": outcome.sender, "text": ORDER_REPLY}]


def action_errors(tracker: dict[str, Any]) -> list[str]:
    return [e["message"] for e in tracker["events"] if e["event"] == "kefu_action_error"]


async def test_a_hanging_action_server_times_out_into_a_polite_reply(kefu: KefuServer) -> None:
    """Shoppers whose action hangs get the polite reply after the timeout; the others are not held up."""
    async with aiohttp.ClientSession() as http:
        slow = [post_message(http, kefu.url, f"slow-{i}", "/slow_check", f"slow-{i}") for i in range(4)]
        fast = [post_message(http, kefu.url, f"fast-{i}", "/check_order", f"fast-{i}") for i in range(4)]
        outcomes = await asyncio.gather(*slow, *fast)
        tracker = await fetch_tracker(http, kefu, "slow-0")
    slow_outcomes, fast_outcomes = outcomes[:4], outcomes[4:]
    for outcome in slow_outcomes:
        assert polite(outcome), (outcome.status, outcome.body, outcome.error)
        # waited for the timeout (the hang was real), and not much longer
        assert ACTION_TIMEOUT * 0.9 <= outcome.seconds < ACTION_TIMEOUT + 2.0, outcome.seconds
    for outcome in fast_outcomes:
        assert served(outcome), (outcome.status, outcome.body, outcome.error)
        assert outcome.seconds < ACTION_TIMEOUT, f"a fast action waited {outcome.seconds:.2f} s behind the hung ones"
    assert action_errors(tracker) == [f"the action server did not answer within {ACTION_TIMEOUT:g}s"]
    assert tracker["events"][-1]["event"] == "action" and tracker["events"][-1]["name"] == "action_listen"


async def test_killed_action_server_gives_polite_replies_then_kefu_recovers_when_it_is_back(
    kefu: KefuServer, action_server: ActionServer
) -> None:
    """SIGKILL the action server under load (requests in flight included), then start it again on its port."""
    load = Load()
    marks: dict[str, float] = {}
    stop_load = asyncio.Event()

    async with aiohttp.ClientSession() as http:
        async def shopper(index: int) -> None:
            for n in range(100_000):  # bounded; stop_load ends it long before
                if stop_load.is_set():
                    return
                load.outcomes.append(await post_message(http, kefu.url, f"shopper-{index}", "/check_order",
                                                        f"shopper-{index}-{n}"))

        def started_after(mark: str) -> list[Any]:
            return [o for o in load.outcomes if o.started > marks.get(mark, float("inf"))]

        shoppers = [asyncio.create_task(shopper(i)) for i in range(SHOPPERS)]
        try:
            assert await until(lambda: sum(map(served, load.outcomes)) >= 5 * SHOPPERS, PHASE_TIMEOUT)
            hung = asyncio.create_task(post_message(http, kefu.url, "hung", "/slow_check", "hung-1"))
            # the hung request is at the action server once later requests have made the round trip
            marks["hung"] = time.monotonic()
            assert await until(lambda: sum(map(served, started_after("hung"))) >= SHOPPERS, PHASE_TIMEOUT)
            marks["kill"] = time.monotonic()
            await asyncio.to_thread(action_server.kill)
            marks["dead"] = time.monotonic()
            hung_outcome = await hung
            assert await until(lambda: len(started_after("dead")) >= 3 * SHOPPERS, PHASE_TIMEOUT)
            marks["restart"] = time.monotonic()
            await asyncio.to_thread(action_server.start)
            marks["back"] = time.monotonic()
            assert await until(lambda: {o.sender for o in started_after("back") if served(o)}
                               == {f"shopper-{i}" for i in range(SHOPPERS)}, PHASE_TIMEOUT)
        finally:
            stop_load.set()
            await asyncio.wait_for(asyncio.gather(*shoppers), 30)
            if action_server.process is None:  # failed half-way: leave a live server to the other tests
                await asyncio.to_thread(action_server.start)
        tracker = await fetch_tracker(http, kefu, "shopper-0")
        hung_tracker = await fetch_tracker(http, kefu, "hung")

    assert load.statuses() == {200: len(load.outcomes)}, load.statuses()  # no 500, no dropped connection
    assert all(served(o) or polite(o) for o in load.outcomes)
    # killed mid-request: the shopper still got the polite reply, before the timeout could fire
    assert polite(hung_outcome), (hung_outcome.status, hung_outcome.body, hung_outcome.error)
    assert hung_outcome.seconds < ACTION_TIMEOUT, hung_outcome.seconds
    assert any(m.startswith("request to the action server failed") for m in action_errors(hung_tracker)), \
        action_errors(hung_tracker)
    # while it was dead: polite replies, each within the connect retries' bound
    dead = [o for o in started_after("dead") if o.started + o.seconds < marks["restart"]]
    assert len(dead) >= 3 * SHOPPERS and all(map(polite, dead))
    assert max(o.seconds for o in dead) < CONNECT_RETRIES * RETRY_DELAY + 1.0
    assert any(m.startswith("cannot reach the action server") for m in action_errors(tracker))
    # back: real replies again without restarting kefu
    back = started_after("back")
    assert len(back) >= SHOPPERS and all(map(served, back)), [o.body for o in back if not served(o)][:3]
