"""The REST webhook's ``Server-Timing`` header: where each turn's time went, measured, not guessed."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot import turn_timing
from bot.agent import Agent
from bot.loaders.endpoints_loader import Endpoints
from bot.loaders.training_files import load_nlu_data
from bot.server import Settings, create_app
from nlu.pipeline import NLUPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nlu"))
from dialogue_support import shop_agent  # noqa: E402
from nlu_support import TINY_NLU, tiny_config  # noqa: E402

ACTION_DELAY_S = 0.25
ENTRY = re.compile(r"^([a-z-]+);dur=(\d+(?:\.\d)?)$")


def parse_server_timing(value: str) -> dict[str, float]:
    """``{"nlu": 4.2, ..., "total": 21.0}`` from a header value; fails on any malformed entry."""
    phases: dict[str, float] = {}
    for part in value.split(", "):
        match = ENTRY.match(part)
        assert match, f"malformed Server-Timing entry {part!r} in {value!r}"
        phases[match.group(1)] = float(match.group(2))
    return phases


@pytest.fixture(scope="module")
def pipeline() -> NLUPipeline:
    return NLUPipeline.from_config(tiny_config()).train(load_nlu_data(TINY_NLU), seed=3, progress=False)


@pytest.fixture
async def slow_action_server(aiohttp_server: Any) -> str:
    """An action server on loopback that answers every action after ``ACTION_DELAY_S``."""

    async def webhook(request: web.Request) -> web.Response:
        await request.json()
        await asyncio.sleep(ACTION_DELAY_S)
        return web.json_response({"events": [], "responses": [{"text": "done"}]})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/webhook"


async def served(aiohttp_client: Any, pipeline: NLUPipeline, action_url: str) -> Any:
    base = shop_agent()
    agent = Agent(domain=base.domain, policy=base.policy, interpreter=pipeline, nlg=base.nlg)
    endpoints = Endpoints(action_endpoint={"url": action_url}, other={"nlu_batching": {"max_wait_ms": 5}})
    return await aiohttp_client(create_app(Settings(agent=agent, endpoints=endpoints)))


async def test_a_turn_reports_each_phase_and_the_phases_fit_in_the_total(
        aiohttp_client: Any, pipeline: NLUPipeline, slow_action_server: str) -> None:
    client = await served(aiohttp_client, pipeline, slow_action_server)
    reply = await client.post("/webhooks/rest/webhook", json={"sender": "t1", "message": "hi"})
    assert reply.status == 200 and (await reply.json())[0]["text"]
    phases = parse_server_timing(reply.headers[turn_timing.SERVER_TIMING_HEADER])
    assert list(phases)[-1] == "total"
    for phase in ("nlu-wait", "nlu", "lock", "tracker", "policy", "actions", "save"):
        assert phase in phases, phases
    assert phases["nlu"] > 0  # the network ran for this message
    assert phases["actions"] < ACTION_DELAY_S * 1000  # a greeting runs no custom action
    parts = sum(value for name, value in phases.items() if name != "total")
    assert parts <= phases["total"] + 0.1 * len(phases)  # sequential phases of one handler (0.1 ms rounding each)


async def test_the_action_servers_time_shows_under_actions_and_nlu_is_skipped_for_payloads(
        aiohttp_client: Any, pipeline: NLUPipeline, slow_action_server: str) -> None:
    client = await served(aiohttp_client, pipeline, slow_action_server)
    reply = await client.post("/webhooks/rest/webhook", json={"sender": "t2", "message": "/slow"})
    assert reply.status == 200 and (await reply.json())[0]["text"] == "done"
    phases = parse_server_timing(reply.headers[turn_timing.SERVER_TIMING_HEADER])
    assert "nlu" not in phases and "nlu-wait" not in phases  # "/intent" payloads skip the network
    assert phases["actions"] >= ACTION_DELAY_S * 1000
    assert phases["total"] >= phases["actions"]


async def test_concurrent_turns_each_get_their_own_timing(
        aiohttp_client: Any, pipeline: NLUPipeline, slow_action_server: str) -> None:
    client = await served(aiohttp_client, pipeline, slow_action_server)
    replies = await asyncio.gather(*(
        client.post("/webhooks/rest/webhook", json={"sender": f"c{i}", "message": "/slow" if i % 2 else "hi"})
        for i in range(6)))
    for i, reply in enumerate(replies):
        phases = parse_server_timing(reply.headers[turn_timing.SERVER_TIMING_HEADER])
        if i % 2:  # the slow ones ran the action server's 250 ms, the greetings did not share it
            assert phases["actions"] >= ACTION_DELAY_S * 1000 and "nlu" not in phases
        else:
            assert phases["actions"] < ACTION_DELAY_S * 1000 and "nlu" in phases


def test_timing_outside_a_request_records_nothing_and_the_header_keeps_the_turns_order() -> None:
    assert turn_timing.current() is None
    with turn_timing.timed("policy"):  # no request being timed: a no-op
        pass
    timing, token = turn_timing.start()
    try:
        timing.add("save", 0.002)
        timing.add("extra", 0.001)
        timing.add("nlu", 0.0041)
        timing.add("nlu", 0.001)
        with turn_timing.timed("policy"):
            pass
    finally:
        turn_timing.stop(token)
    assert turn_timing.current() is None
    phases = parse_server_timing(timing.header())
    assert list(phases) == ["nlu", "policy", "save", "extra", "total"]
    assert phases["nlu"] == 5.1 and phases["save"] == 2.0
