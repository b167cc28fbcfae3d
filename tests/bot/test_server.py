"""The bot server: REST channel, Rasa's server API, errors as JSON, handoff queue, openapi."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dialogue_support import shop_agent

from bot.server import Settings, create_app
from bot.stores.errors import StoreUnavailableError
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore


def settings(**kwargs: Any) -> Settings:
    agent = kwargs.pop("agent", None) or shop_agent()
    return Settings(agent=agent, enable_api=kwargs.pop("enable_api", True), **kwargs)


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(settings()))


async def test_rest_webhook_replies_with_rasa_shape(client: Any) -> None:
    response = await client.post("/webhooks/rest/webhook", json={"sender": "u1", "message": "/greet"})
    assert response.status == 200
    assert await response.json() == [{"recipient_id": "u1", "text": "Hi! How can I help?"}]
    assert await (await client.get("/webhooks/rest/")).json() == {"status": "ok"}


async def test_rest_webhook_streams_json_lines(client: Any) -> None:
    response = await client.post("/webhooks/rest/webhook?stream=true", json={"sender": "u1", "message": "/human_agent"})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert lines == [{"recipient_id": "u1", "text": "Connecting you to a human."}]


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[1, 2]", "body"),
    (b"", "body"),
    (b"\xff\xfe", "body"),
    (json.dumps({"message": "hi"}).encode(), "sender"),
    (json.dumps({"sender": ["a"], "message": "hi"}).encode(), "sender"),
    (json.dumps({"sender": True, "message": "hi"}).encode(), "sender"),
    (json.dumps({"sender": "u1"}).encode(), "message"),
    (json.dumps({"sender": "u1", "message": 42}).encode(), "message"),
    (json.dumps({"sender": "u1", "message": "hi", "metadata": "x"}).encode(), "metadata"),
    (json.dumps({"sender": "u1", "message": "x" * 1_000_000}).encode(), "message"),
    # hostile but well-formed JSON: refused before the turn runs, naming where
    (b'{"sender": "u1", "message": "hi \\ud800 there"}', "body.message"),
    (b'{"sender": "\\udfff", "message": "/greet"}', "body.sender"),
    (b'{"sender": "u1", "message": "hi", "metadata": {"name": "\\ud83d"}}', "body.metadata.name"),
    (b"[" * 100_000 + b"]" * 100_000, "body"),
    (json.dumps({"sender": "u1", "message": "hi", "metadata": {"a": json.loads("[" * 900 + "]" * 900)}}).encode(),
     "body.metadata.a" + "[0]" * 62),
])
async def test_malformed_webhook_bodies_are_400_naming_the_field(client: Any, body: bytes, field: str) -> None:
    response = await client.post("/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    payload = await response.json()
    assert payload["field"] == field and payload["status"] == "failure" and payload["error"]


async def test_emoji_pairs_and_chinese_are_text_not_surrogates(client: Any) -> None:
    body = b'{"sender": "u1", "message": "/greet", "metadata": {"name": "\\ud83d\\ude00 \\u5ba2\\u670d"}}'
    response = await client.post("/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200


async def test_too_large_body_is_json_not_500(client: Any) -> None:
    response = await client.post("/webhooks/rest/webhook", data=b"x" * (5 * 1024 * 1024))
    assert response.status == 413 and (await response.json())["field"] == "body"


class DownStore(InMemoryTrackerStore):
    async def _retrieve_events(self, sender_id: str) -> Any:
        raise StoreUnavailableError("tracker store", "redis://127.0.0.1:1/0", "Connection refused")


async def test_store_unavailable_is_503_with_a_clear_body(aiohttp_client: Any) -> None:
    agent = shop_agent()
    client = await aiohttp_client(create_app(settings(agent=agent, tracker_store=DownStore(agent.domain),
                                                      lock_store=InMemoryLockStore())))
    response = await client.post("/webhooks/rest/webhook", json={"sender": "u1", "message": "/greet"})
    assert response.status == 503
    body = await response.json()
    assert body["reason"] == "ServiceUnavailable" and "tracker store is unavailable" in body["message"]


async def test_conversation_api_round_trip(client: Any) -> None:
    await client.post("/webhooks/rest/webhook", json={"sender": "c1", "message": '/greet{"order_id": "A12345"}'})
    tracker = await (await client.get("/conversations/c1/tracker")).json()
    assert tracker["sender_id"] == "c1" and tracker["slots"]["order_id"] == "A12345"
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    assert tracker["latest_action_name"] == "action_listen"
    assert (await (await client.get("/conversations/c1/tracker?include_events=NONE")).json())["events"] is None
    bad = await client.get("/conversations/c1/tracker?include_events=SOME")
    assert bad.status == 400 and (await bad.json())["field"] == "include_events"

    logged = await client.post("/conversations/c1/messages", json={"text": "/bot_challenge", "sender": "user"})
    assert (await logged.json())["latest_message"]["intent"]["name"] == "bot_challenge"
    assert (await logged.json())["latest_action_name"] == "action_listen"  # logged, not answered
    wrong = await client.post("/conversations/c1/messages", json={"text": "hi", "sender": "bot"})
    assert wrong.status == 400 and (await wrong.json())["field"] == "sender"

    triggered = await (await client.post("/conversations/c1/trigger_intent", json={"name": "greet"})).json()
    assert triggered["messages"] == [{"recipient_id": "c1", "text": "Hi! How can I help?"}]
    unknown = await client.post("/conversations/c1/trigger_intent", json={"name": "nope"})
    assert unknown.status == 404

    appended = await client.post("/conversations/c1/tracker/events",
                                 json=[{"event": "slot", "name": "email", "value": "a@b.c"}])
    assert (await appended.json())["slots"]["email"] == "a@b.c"
    invalid = await client.post("/conversations/c1/tracker/events", json=[{"event": "slot"}])
    assert invalid.status == 400 and "events[0].name" in (await invalid.json())["message"]
    replaced = await client.put("/conversations/c1/tracker/events", json=[{"event": "slot", "name": "email", "value": "x@y.z"}])
    state = await replaced.json()
    assert state["slots"]["email"] == "x@y.z" and state["slots"]["order_id"] is None

    story = await (await client.get("/conversations/c1/story")).text()
    assert "stories:" in story and "- slot_was_set:" in story

    assert (await client.delete("/conversations/c1")).status == 200
    assert (await client.delete("/conversations/c1")).status == 404


async def test_handoff_queue_and_resume(client: Any) -> None:
    await client.post("/webhooks/rest/webhook", json={"sender": "h1", "message": "/human_agent"})
    await client.post("/webhooks/rest/webhook", json={"sender": "h2", "message": "/greet"})
    queue = await (await client.get("/conversations?handoff=true")).json()
    assert [(q["sender_id"], q["reason"]) for q in queue] == [("h1", "requested")]
    silent = await client.post("/webhooks/rest/webhook", json={"sender": "h1", "message": "/greet"})
    assert await silent.json() == []
    resumed = await client.post("/conversations/h1/resume")
    assert (await resumed.json())["paused"] is False
    assert await (await client.get("/conversations?handoff=true")).json() == []
    assert (await client.post("/conversations/nobody/resume")).status == 404


async def test_parse_status_version_domain_openapi(client: Any) -> None:
    parsed = await (await client.post("/model/parse", json={"text": '/inform{"order_id": "A1"}'})).json()
    assert parsed["intent"] == {"name": "inform", "confidence": 1.0}
    assert parsed["entities"][0]["value"] == "A1"
    missing = await client.post("/model/parse", json={"txt": "hi"})
    assert missing.status == 400 and (await missing.json())["field"] == "text"
    status = await (await client.get("/status")).json()
    assert status["num_active_training_jobs"] == 0 and "tracker_store" in status
    version = await (await client.get("/version")).json()
    assert version["version"] and version["rasa_compatible_version"].startswith("3.")
    domain = await (await client.get("/domain")).json()
    assert "track_form" in domain["forms"]
    spec = await (await client.get("/openapi.json")).json()
    routes = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes() if r.method != "HEAD"}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert {(m, p) for m, p in routes if not p.startswith("/webhooks")} <= documented
    assert ("post", "/webhooks/rest/webhook") in documented
    assert "Server-Timing" in spec["paths"]["/webhooks/rest/webhook"]["post"]["responses"]["200"]["headers"]


async def test_api_routes_only_with_enable_api(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(settings(enable_api=False)))
    response = await client.get("/status")
    assert response.status == 404 and (await response.json())["status"] == "failure"
    assert (await client.post("/webhooks/rest/webhook", json={"sender": "u", "message": "/greet"})).status == 200


async def test_cors_preflight_and_headers(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(settings(cors_origins=("https://shop.example",))))
    pre = await client.options("/webhooks/rest/webhook", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    ok = await client.post("/webhooks/rest/webhook?stream=true", json={"sender": "u", "message": "/greet"},
                           headers={"Origin": "https://shop.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = await client.get("/version", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
