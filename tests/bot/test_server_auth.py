"""--auth-token and --jwt-secret (HS256 pinned) on the server API."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from dialogue_support import shop_agent

from bot.auth import encode_jwt
from bot.server import Settings, create_app

SECRET = "s3cret"


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(Settings(agent=shop_agent(), enable_api=True, auth_token="tok",
                                                    jwt_secret=SECRET)))


def bearer(payload: dict[str, Any], secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {encode_jwt(payload, secret)}"}


async def test_token_query_parameter(client: Any) -> None:
    assert (await client.get("/status")).status == 401
    assert (await client.get("/status?token=wrong")).status == 401
    assert (await client.get("/status?token=tok")).status == 200
    body = await (await client.get("/status")).json()
    assert body["reason"] == "NotAuthenticated" and body["code"] == 401


@pytest.mark.parametrize("token", ["%C3%A9", "%E5%AE%A2%E6%9C%8D", "%ED%A0%80", "%FF"])
async def test_a_token_that_is_not_ascii_is_refused_cleanly(client: Any, token: str) -> None:
    """``?token=%C3%A9`` on a protected path: a 401 with Rasa's error body, not a 500 with a traceback."""
    for path in ("/status", "/conversations/u/tracker", "/model/parse"):
        reply = await (client.post if path == "/model/parse" else client.get)(f"{path}?token={token}")
        assert reply.status == 401, (path, token, reply.status)
        assert (await reply.json())["reason"] == "NotAuthenticated"
    reply = await client.get("/status", headers={"Authorization": "Bearer é.客服.x"})
    assert reply.status == 401


async def test_public_paths_and_channels_stay_open(client: Any) -> None:
    assert (await client.get("/version")).status == 200
    assert (await client.get("/")).status == 200
    assert (await client.post("/webhooks/rest/webhook", json={"sender": "u", "message": "/greet"})).status == 200


async def test_jwt_admin_and_user_scopes(client: Any) -> None:
    admin = bearer({"user": {"username": "ops", "role": "admin"}})
    assert (await client.get("/status", headers=admin)).status == 200
    own = bearer({"user": {"username": "c7", "role": "user"}})
    assert (await client.get("/conversations/c7/tracker", headers=own)).status == 200
    other = await client.get("/conversations/c8/tracker", headers=own)
    assert other.status == 403 and (await other.json())["reason"] == "NotAuthorized"
    assert (await client.get("/status", headers=own)).status == 403


async def test_jwt_forgeries_are_refused(client: Any) -> None:
    wrong_key = bearer({"user": {"role": "admin"}}, secret="other")
    assert (await client.get("/status", headers=wrong_key)).status == 401
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"user": {"role": "admin"}}).encode()).rstrip(b"=").decode()
    unsigned = await client.get("/status", headers={"Authorization": f"Bearer {header}.{body}."})
    assert unsigned.status == 401
    expired = bearer({"user": {"role": "admin"}, "exp": time.time() - 10})
    assert "expired" in (await (await client.get("/status", headers=expired)).json())["message"]
    assert (await client.get("/status", headers={"Authorization": "Basic abc"})).status == 401
    assert (await client.get("/status", headers={"Authorization": "Bearer not.a.jwt"})).status == 401
