"""The order service over HTTP: status codes, JSON errors, idempotency header, injection in the path."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backends.orders.app import create_app
from backends.orders.models import Order, ReturnRequest
from backends.orders.service import OrderService


async def test_lookup_and_refusal_status_codes(aiohttp_client, sqlite_orders: OrderService) -> None:
    client = await aiohttp_client(create_app(sqlite_orders))
    assert (await (await client.get("/health")).json()) == {"status": "ok"}
    found = await client.get("/orders/A48213", params={"email": "mia.k@gmail.com"})
    assert found.status == 200 and (await found.json())["shipment"]["events"]
    refused = await client.get("/orders/A48213", params={"email": "someone@else.com"})
    body = await refused.json()
    assert refused.status == 404 and body["error"] == "order_not_found" and "shipment" not in body
    missing = await client.get("/orders/A48213")
    assert missing.status == 400 and (await missing.json())["error"] == "verification_required"
    unknown_route = await client.get("/nope")
    assert unknown_route.status == 404 and "error" in await unknown_route.json()


async def test_writes_map_conflicts_and_replay_idempotent_requests(aiohttp_client, sqlite_orders: OrderService) -> None:
    client = await aiohttp_client(create_app(sqlite_orders))
    shipped = await client.post("/orders/A48213/cancel", json={"email": "mia.k@gmail.com"})
    assert shipped.status == 409 and (await shipped.json())["error"] == "not_cancellable"
    body = {"email": "raj.patel@yahoo.com", "reason": "too small"}
    first = await client.post("/orders/A40404/returns", json=body, headers={"Idempotency-Key": "abc"})
    second = await client.post("/orders/A40404/returns", json=body, headers={"Idempotency-Key": "abc"})
    assert (first.status, second.status) == (201, 200)
    assert (await second.json())["replayed"] is True
    with Session(sqlite_orders.engine) as session:
        assert session.scalar(select(func.count()).select_from(ReturnRequest).where(
            ReturnRequest.order_id == "A40404")) == 1
    bad_json = await client.post("/orders/A40404/returns", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status == 400 and (await bad_json.json())["error"] == "invalid_json"


async def test_injection_in_the_url_path_is_harmless(aiohttp_client, sqlite_orders: OrderService) -> None:
    client = await aiohttp_client(create_app(sqlite_orders))
    with Session(sqlite_orders.engine) as session:
        before = session.scalar(select(func.count()).select_from(Order))
    for payload in ("A48213' OR '1'='1", "A48213; DROP TABLE orders", "../../etc/passwd", "A48213%00"):
        reply = await client.get(f"/orders/{quote(payload, safe='')}", params={"email": "mia.k@gmail.com"})
        assert reply.status in (400, 404), payload
        assert "shipment" not in await reply.json()
    with Session(sqlite_orders.engine) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == before
