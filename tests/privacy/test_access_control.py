"""Access control: every API endpoint needs credentials, exposure check, JWT pinning, rate limit, size cap."""

from __future__ import annotations

import argparse
import base64
import json
import time
from typing import Any

import pytest
from aiohttp import web
from privacy_support import privacy_agent

from bot.auth import AuthError, decode_jwt, encode_jwt
from bot.commands.run_cmd import check_api_exposure, is_loopback
from bot.errors import KefuError
from bot.loaders.endpoints_loader import Endpoints
from bot.message_guard import MessageGuard, MessageRejectedError
from bot.server import Settings, create_app

SECRET = "s3cret"
CONV = "c1"


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    settings = Settings(agent=privacy_agent(), enable_api=True, auth_token="tok", jwt_secret=SECRET)
    return await aiohttp_client(create_app(settings))


async def test_every_api_endpoint_in_the_spec_refuses_anonymous_calls(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert spec["security"], "the spec must declare the API's credentials"
    protected = public = 0
    for template, operations in spec["paths"].items():
        path = template.replace("{conversation_id}", CONV)
        for method, operation in operations.items():
            anonymous = await client.request(method.upper(), path, json={})
            if operation.get("security") == []:  # declared open: hello, version, the spec, channel webhooks
                assert template in ("/", "/version", "/openapi.json") or template.startswith("/webhooks/")
                public += 1
                continue
            assert anonymous.status in (401, 403), f"{method.upper()} {template} answered {anonymous.status}"
            assert (await anonymous.json())["reason"] in ("NotAuthenticated", "NotAuthorized")
            user = {"Authorization": f"Bearer {encode_jwt({'user': {'username': 'other', 'role': 'user'}}, SECRET)}"}
            assert (await client.request(method.upper(), path, json={}, headers=user)).status == 403
            with_token = await client.request(method.upper(), f"{path}?token=tok", json={})
            assert with_token.status not in (401, 403), f"{method.upper()} {template} refused a valid token"
            protected += 1
    assert protected >= 14 and public >= 3


async def test_every_served_route_is_in_the_spec(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    app: web.Application = client.server.app
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method not in ("HEAD", "*") and r.resource is not None}
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served <= documented, served - documented


@pytest.mark.parametrize(("interface", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("shop.example.com", False),
])
def test_loopback_detection(interface: str, loopback: bool) -> None:
    assert is_loopback(interface) is loopback


def _run_args(**kwargs: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"enable_api": True, "auth_token": None, "jwt_secret": None,
                                 "interface": "0.0.0.0", **kwargs})


def test_enable_api_on_a_public_interface_without_auth_refuses_to_start() -> None:
    with pytest.raises(KefuError, match=r"refusing to start.*0\.0\.0\.0.*--auth-token"):
        check_api_exposure(_run_args())
    check_api_exposure(_run_args(auth_token="tok"))
    check_api_exposure(_run_args(jwt_secret="s"))
    check_api_exposure(_run_args(interface="127.0.0.1"))
    check_api_exposure(_run_args(enable_api=False))


def test_kefu_run_prints_the_refusal_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["run", "--enable-api", "-i", "0.0.0.0", "-m", "no-such-models"]) == 1
    assert "refusing to start" in capsys.readouterr().err


def test_jwt_algorithm_is_pinned_and_expiry_checked() -> None:
    good = encode_jwt({"user": {"role": "admin"}, "exp": time.time() + 60}, SECRET)
    assert decode_jwt(good, SECRET)["user"]["role"] == "admin"
    with pytest.raises(AuthError, match="expired"):
        decode_jwt(encode_jwt({"exp": time.time() - 1}, SECRET), SECRET)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS512", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    _, body, signature = good.split(".")
    with pytest.raises(AuthError, match="HS256"):
        decode_jwt(f"{header}.{body}.{signature}", SECRET)
    with pytest.raises(AuthError, match="not supported"):
        decode_jwt(good, SECRET, algorithm="none")


async def test_expired_jwt_is_401_over_http(client: Any) -> None:
    expired = encode_jwt({"user": {"role": "admin"}, "exp": time.time() - 5}, SECRET)
    response = await client.get("/status", headers={"Authorization": f"Bearer {expired}"})
    assert response.status == 401 and "expired" in (await response.json())["message"]


def test_guard_sliding_window_and_size_cap() -> None:
    now = [0.0]
    guard = MessageGuard(messages=3, per_seconds=10, max_message_chars=20, clock=lambda: now[0])
    for _ in range(3):
        guard.check("a", "hi")
    with pytest.raises(MessageRejectedError) as refused:
        guard.check("a", "hi")
    assert refused.value.status == 429 and refused.value.retry_after == pytest.approx(10)
    guard.check("b", "hi")  # per sender
    now[0] = 10.5
    guard.check("a", "hi")  # the window slid
    with pytest.raises(MessageRejectedError) as big:
        guard.check("c", "x" * 21)
    assert big.value.status == 413
    with pytest.raises(ValueError, match="rate_limit.messages"):
        MessageGuard.from_config({"messages": "lots"})


async def test_rate_limit_and_size_cap_on_the_rest_channel(aiohttp_client: Any) -> None:
    endpoints = Endpoints(other={"rate_limit": {"messages": 3, "per_seconds": 60, "max_message_chars": 50}})
    client = await aiohttp_client(create_app(Settings(agent=privacy_agent(), endpoints=endpoints)))
    for stream in ("false", "false", "true"):
        reply = await client.post(f"/webhooks/rest/webhook?stream={stream}", json={"sender": "u1", "message": "/greet"})
        assert reply.status == 200
    for stream in ("false", "true"):
        limited = await client.post(f"/webhooks/rest/webhook?stream={stream}", json={"sender": "u1", "message": "/greet"})
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        assert (await limited.json())["reason"] == "TooManyRequests"
    assert (await client.post("/webhooks/rest/webhook", json={"sender": "u2", "message": "/greet"})).status == 200
    big = await client.post("/webhooks/rest/webhook", json={"sender": "u3", "message": "x" * 51})
    assert big.status == 413


async def test_every_channel_goes_through_the_guard() -> None:
    from bot.channels.base import UserMessage
    from bot.processor import MessageProcessor
    from bot.stores.lock_store import InMemoryLockStore
    from bot.stores.tracker_store import InMemoryTrackerStore

    agent = privacy_agent()
    processor = MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(),
                                 guard=MessageGuard(messages=1, per_seconds=60))
    await processor.handle_message(UserMessage("/greet", "tg-1", input_channel="telegram"))
    with pytest.raises(MessageRejectedError):
        await processor.handle_message(UserMessage("/greet", "tg-1", input_channel="telegram"))
    tracker = await processor.get_tracker("tg-1")
    assert sum(e["event"] == "user" for e in tracker.events) == 1  # the refused message was not recorded


def test_kefu_run_rejects_a_bad_privacy_or_rate_limit_section(tmp_path: Any, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    from bot.cli import main

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("privacy:\n  mask: [passport]\n")
    assert main(["run", "-i", "127.0.0.1", "-m", str(tmp_path / "none"), "--endpoints", str(endpoints)]) == 1
    assert "privacy.mask: unknown kind(s) ['passport']" in capsys.readouterr().err
    endpoints.write_text("rate_limit:\n  messages: -3\n")
    assert main(["run", "-i", "127.0.0.1", "-m", str(tmp_path / "none"), "--endpoints", str(endpoints)]) == 1
    assert "rate_limit.messages: must be positive" in capsys.readouterr().err
