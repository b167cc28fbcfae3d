"""The action server client: Rasa's protocol against a real rasa-sdk server, errors, timeouts, retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from dialogue_support import free_port, running_action_server, shop_agent

from bot.actions import ActionClient, ActionEndpoint, ActionServerError, RemoteAction
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.nlg import TemplatedNLG
from bot.processor import MessageProcessor
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore
from bot.tracker import DialogueStateTracker


@pytest.fixture(scope="module")
def action_url() -> Iterator[str]:
    with running_action_server() as url:
        yield url


CLIENTS: list[ActionClient] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while CLIENTS:
        await CLIENTS.pop().close()


def make_processor(url: str, agent: Any = None, **endpoint: Any) -> MessageProcessor:
    agent = agent or shop_agent()
    client = ActionClient(ActionEndpoint(url, **endpoint))
    CLIENTS.append(client)
    return MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), client)


async def say(processor: MessageProcessor, text: str) -> list[dict[str, Any]]:
    channel = CollectingOutputChannel()
    await processor.handle_message(UserMessage(text, "c1"), channel)
    return channel.messages


@pytest.fixture
async def counting_server(aiohttp_server: Any) -> AsyncIterator[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    """An action server double that records requests; ``behaviour`` sets status / delay / body."""
    calls: list[dict[str, Any]] = []
    behaviour: dict[str, Any] = {"status": 200, "delay": 0.0, "body": {"events": [], "responses": []}}

    async def webhook(request: web.Request) -> web.Response:
        calls.append(await request.json())
        await asyncio.sleep(behaviour["delay"])
        return web.json_response(behaviour["body"], status=behaviour["status"])

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    yield f"http://127.0.0.1:{server.port}/webhook", calls, behaviour


async def test_request_has_rasa_shape_and_responses_become_bot_events(counting_server: Any) -> None:
    url, calls, behaviour = counting_server
    behaviour["body"] = {"events": [{"event": "slot", "timestamp": None, "name": "order_status", "value": "late"}],
                         "responses": [{"text": "Hello", "buttons": [], "image": None, "custom": {}, "template": None},
                                       {"response": "utter_status", "order_status": "late"}]}
    domain = shop_agent().domain
    tracker = DialogueStateTracker.from_domain("s1", domain)
    tracker.update({"event": "slot", "name": "order_id", "value": "A1"})
    client = ActionClient(ActionEndpoint(url))
    try:
        events = await RemoteAction("action_check_order", client).run(
            CollectingOutputChannel(), TemplatedNLG(domain.responses), tracker, domain)
    finally:
        await client.close()
    body = calls[0]
    assert set(body) == {"next_action", "sender_id", "tracker", "domain", "version"}
    assert body["next_action"] == "action_check_order" and body["sender_id"] == "s1"
    assert body["tracker"]["slots"]["order_id"] == "A1" and "events" in body["tracker"]
    assert body["domain"]["forms"]["track_form"]["required_slots"] == ["order_id", "email"]
    assert [e["event"] for e in events] == ["bot", "bot", "slot"]
    assert events[0]["text"] == "Hello" and events[1]["text"] == "Order A1: late"
    assert events[2]["timestamp"] is not None


async def test_timeout_is_not_retried_and_gives_a_polite_reply(counting_server: Any) -> None:
    url, calls, behaviour = counting_server
    behaviour["delay"] = 1.0
    processor = make_processor(url, timeout=0.3, connect_retries=3)
    messages = await say(processor, "/slow")
    assert len(calls) == 1
    assert "went wrong" in messages[0]["text"]
    tracker = await processor.get_tracker("c1")
    error = next(e for e in tracker.events if e["event"] == "kefu_action_error")
    assert "did not answer within 0.3s" in error["message"]


async def test_server_error_is_not_retried(counting_server: Any) -> None:
    url, calls, behaviour = counting_server
    behaviour.update(status=500, body={"error": "kaputt"})
    processor = make_processor(url, connect_retries=3)
    await say(processor, "/boom")
    assert len(calls) == 1
    tracker = await processor.get_tracker("c1")
    assert "HTTP 500" in next(e for e in tracker.events if e["event"] == "kefu_action_error")["message"]


async def test_bad_event_in_reply_is_an_error_not_a_crash(counting_server: Any) -> None:
    url, _calls, behaviour = counting_server
    behaviour["body"] = {"events": [{"event": "no_such_event"}]}
    processor = make_processor(url)
    messages = await say(processor, "/boom")
    assert "went wrong" in messages[0]["text"]


async def test_connection_errors_are_retried_until_the_server_is_up() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    domain = shop_agent().domain
    client = ActionClient(ActionEndpoint(url, connect_retries=10, retry_delay=0.1))

    async def webhook(request: web.Request) -> web.Response:
        return web.json_response({"events": [{"event": "slot", "name": "order_status", "value": "ok"}]})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()

    async def start_later() -> None:
        await asyncio.sleep(0.35)
        await web.TCPSite(runner, "127.0.0.1", port).start()

    starter = asyncio.create_task(start_later())
    try:
        events = await RemoteAction("action_check_order", client).run(
            CollectingOutputChannel(), TemplatedNLG({}), DialogueStateTracker.from_domain("x", domain), domain)
        assert events[0]["value"] == "ok"
    finally:
        await starter
        await client.close()
        await runner.cleanup()


async def test_dead_action_server_after_retries() -> None:
    client = ActionClient(ActionEndpoint(f"http://127.0.0.1:{free_port()}/webhook", connect_retries=1, retry_delay=0.01))
    domain = shop_agent().domain
    with pytest.raises(ActionServerError, match="cannot reach the action server"):
        await RemoteAction("action_check_order", client).run(
            CollectingOutputChannel(), TemplatedNLG({}), DialogueStateTracker.from_domain("x", domain), domain)
    await client.close()


async def test_real_sdk_rejection_unknown_action_and_crash(action_url: str) -> None:
    processor = make_processor(action_url)
    assert await say(processor, "/reject_me") == []
    tracker = await processor.get_tracker("c1")
    assert tracker.events[-2]["event"] == "action_execution_rejected" and tracker.events[-2]["name"] == "action_reject"
    assert not any(e["event"] == "action" and e["name"] == "action_reject" for e in tracker.events)

    agent = shop_agent(actions=["action_missing"])
    agent.policy.after_intent["boom"] = ["action_missing"]  # type: ignore[union-attr]
    try:
        processor = make_processor(action_url, agent)
        messages = await say(processor, "/boom")
    finally:
        agent.policy.after_intent["boom"] = ["action_boom"]  # type: ignore[union-attr]
    assert "went wrong" in messages[0]["text"]
    error = next(e for e in (await processor.get_tracker("c1")).events if e["event"] == "kefu_action_error")
    assert "does not know this action" in error["message"]

    processor = make_processor(action_url)
    assert "went wrong" in (await say(processor, "/boom"))[0]["text"]


async def test_real_sdk_pause_becomes_a_handoff(action_url: str) -> None:
    processor = make_processor(action_url)
    assert [m["text"] for m in await say(processor, "/pause_me")] == ["A colleague will take over."]
    assert [q["sender_id"] for q in await processor.handoff_queue()] == ["c1"]


async def test_selective_domain_sends_domain_only_when_asked_and_on_449(counting_server: Any) -> None:
    url, calls, behaviour = counting_server
    processor = make_processor(url, enable_selective_domain=True)
    await say(processor, "/where_domain")
    assert "domain" not in calls[-1]
    agent = shop_agent(actions=[{"action_where_domain": {"send_domain": True}}])
    processor = make_processor(url, agent, enable_selective_domain=True)
    await say(processor, "/where_domain")
    assert calls[-1]["domain"]["forms"] == {"track_form": {"required_slots": ["order_id", "email"],
                                                          "ignored_intents": ["greet"]}}
    behaviour.update(status=449, body={"error": "domain missing"})
    before = len(calls)
    processor = make_processor(url, enable_selective_domain=True)
    await say(processor, "/where_domain")
    assert "domain" not in calls[before] and "domain" in calls[before + 1]
