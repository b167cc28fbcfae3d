"""OrderService on a real database: verification, state rules, transactions, idempotency, injection."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backends.constants import ORDER_STATUSES
from backends.errors import ConflictError, InvalidRequest, NotFound
from backends.orders.models import AddressChange, Order, OrderEvent, Refund, ReturnRequest, TrackingEvent
from backends.orders.service import OrderService

INJECTIONS = [
    "A12345' OR '1'='1",
    "A48213'; DROP TABLE orders; --",
    "A48213\" OR 1=1 --",
    "' UNION SELECT id, email, phone FROM customers --",
    "A48213%' --",
    "1; DELETE FROM customers",
]


def count(service: OrderService, model: type, **where: object) -> int:
    with Session(service.engine) as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return session.scalar(query) or 0


def status_of(service: OrderService, order_id: str) -> str:
    with Session(service.engine) as session:
        return session.get(Order, order_id).status


def test_seed_has_every_status_with_tracking(sqlite_orders: OrderService) -> None:
    with Session(sqlite_orders.engine) as session:
        statuses = set(session.scalars(select(Order.status)))
        shipped = session.scalars(select(Order).where(Order.status == "shipped")).all()
        assert all(order.shipment and order.shipment.events for order in shipped)
        delivered = session.scalars(select(Order).where(Order.status == "delivered")).all()
        assert all(order.delivered_at and order.shipment.delivered_at for order in delivered)
    assert statuses == set(ORDER_STATUSES)
    assert count(sqlite_orders, TrackingEvent) > len(shipped)


def test_lookup_needs_the_matching_email_or_phone(sqlite_orders: OrderService) -> None:
    view = sqlite_orders.get_order("a48213", email="  MIA.K@gmail.com ")
    assert view["order_id"] == "A48213" and view["status"] == "shipped"
    assert view["shipment"]["carrier"] and view["shipment"]["tracking_number"]
    assert sqlite_orders.get_order("#A48213", phone="07700 900123")["order_id"] == "A48213"

    with pytest.raises(NotFound) as wrong_email:
        sqlite_orders.get_order("A48213", email="jane.doe@example.com")  # another shopper's email
    with pytest.raises(NotFound) as unknown:
        sqlite_orders.get_order("A99999", email="jane.doe@example.com")
    # A refusal looks exactly like a missing order: nothing leaks about who owns A48213.
    assert wrong_email.value.to_json() == unknown.value.to_json()
    with pytest.raises(InvalidRequest, match="email address or phone number"):
        sqlite_orders.get_order("A48213")
    with pytest.raises(NotFound):
        sqlite_orders.get_order("A48213", phone="+44 7700 900999")


def test_cancel_only_before_shipping_and_with_a_refund_when_paid(sqlite_orders: OrderService) -> None:
    result = sqlite_orders.cancel_order("A66001", email="tom.b@outlook.com", reason="changed my mind")
    assert result["status"] == "cancelled" and result["refund"]["status"] == "pending"
    assert status_of(sqlite_orders, "A66001") == "cancelled"
    assert count(sqlite_orders, Refund, order_id="A66001") == 1
    assert count(sqlite_orders, OrderEvent, order_id="A66001", kind="cancelled") == 1

    with pytest.raises(ConflictError) as shipped:
        sqlite_orders.cancel_order("A48213", email="mia.k@gmail.com")
    assert shipped.value.code == "not_cancellable" and shipped.value.details["status"] == "shipped"
    assert status_of(sqlite_orders, "A48213") == "shipped"
    with pytest.raises(ConflictError, match="already cancelled"):
        sqlite_orders.cancel_order("A66001", email="tom.b@outlook.com")
    # An unpaid order is cancelled without a refund.
    assert sqlite_orders.cancel_order("A30925", email="lena.m@posteo.de")["refund"] is None


def test_same_idempotency_key_writes_once(sqlite_orders: OrderService) -> None:
    first = sqlite_orders.cancel_order("A71234", email="mike@shop-test.org", idempotency_key="turn-1")
    again = sqlite_orders.cancel_order("A71234", email="mike@shop-test.org", idempotency_key="turn-1")
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert {k: v for k, v in again.items() if k != "replayed"} == {k: v for k, v in first.items() if k != "replayed"}
    assert count(sqlite_orders, OrderEvent, order_id="A71234", kind="cancelled") == 1
    assert count(sqlite_orders, Refund, order_id="A71234") == 1
    with pytest.raises(ConflictError) as reused:
        sqlite_orders.cancel_order("A66001", email="tom.b@outlook.com", idempotency_key="turn-1")
    assert reused.value.code == "idempotency_key_reused"
    assert status_of(sqlite_orders, "A66001") == "paid"


def test_returns_only_inside_the_window(sqlite_orders: OrderService) -> None:
    opened = sqlite_orders.start_return("A40404", email="raj.patel@yahoo.com", reason="too small", idempotency_key="r-1")
    assert opened["return"]["status"] == "requested" and opened["return"]["refund_amount"] == 189.99
    replay = sqlite_orders.start_return("A40404", email="raj.patel@yahoo.com", reason="too small", idempotency_key="r-1")
    assert replay["replayed"] and replay["return"]["return_id"] == opened["return"]["return_id"]
    assert count(sqlite_orders, ReturnRequest, order_id="A40404") == 1
    with pytest.raises(ConflictError, match="already open"):
        sqlite_orders.start_return("A40404", email="raj.patel@yahoo.com", reason="too small", idempotency_key="r-2")

    with pytest.raises(ConflictError) as late:  # a laptop delivered 45 days ago: 14-day window
        sqlite_orders.start_return("A12345", email="alex@example.com", reason="changed my mind")
    assert late.value.code == "return_window_closed"
    with pytest.raises(ConflictError) as early:
        sqlite_orders.start_return("A48213", email="mia.k@gmail.com", reason="too big")
    assert early.value.code == "not_delivered"
    assert count(sqlite_orders, ReturnRequest, order_id="A12345") == count(sqlite_orders, ReturnRequest, order_id="A48213") == 0


def test_return_window_edge_follows_the_clock(sqlite_orders: OrderService) -> None:
    delivered = sqlite_orders.get_order("A40404", email="raj.patel@yahoo.com")["return_policy"]
    assert delivered["eligible"] and delivered["window_days"] == 30
    later = OrderService(sqlite_orders.engine, clock=lambda: sqlite_orders.clock() + timedelta(days=31))
    with pytest.raises(ConflictError, match="return window"):
        later.start_return("A40404", email="raj.patel@yahoo.com", reason="too small")


def test_address_change_only_before_shipping(sqlite_orders: OrderService) -> None:
    result = sqlite_orders.change_address("A40112", email="chloe_w@icloud.com",
                                   new_address="Flat 3, 18 Rose Lane, Manchester M1 2AB")
    assert result["shipping_address"] == "Flat 3, 18 Rose Lane, Manchester M1 2AB"
    assert sqlite_orders.get_order("A40112", email="chloe_w@icloud.com")["shipping_address"].startswith("Flat 3")
    assert count(sqlite_orders, AddressChange, order_id="A40112") == 1
    with pytest.raises(ConflictError, match="already shipped"):
        sqlite_orders.change_address("A48213", email="mia.k@gmail.com", new_address="1 New Street, London E1 6AN")
    with pytest.raises(InvalidRequest):
        sqlite_orders.change_address("A31337", email="jane@x.com", new_address="nowhere")


def test_refund_status(sqlite_orders: OrderService) -> None:
    refund = sqlite_orders.refund_status("A39481", email="jane.doe@example.com")
    assert refund["order_status"] == "returned" and refund["refunds"][0]["status"] == "processing"
    assert sqlite_orders.refund_status("A48213", email="mia.k@gmail.com")["refunds"] == []


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_strings_in_order_ids_are_harmless(sqlite_orders: OrderService, payload: str) -> None:
    before = (count(sqlite_orders, Order), count(sqlite_orders, OrderEvent))
    with pytest.raises(NotFound):
        sqlite_orders.get_order(payload, email="mia.k@gmail.com")
    with pytest.raises(NotFound):
        sqlite_orders.get_order("A48213", email=payload)
    with pytest.raises(NotFound):
        sqlite_orders.cancel_order(payload, email="tom.b@outlook.com", idempotency_key=payload)
    assert (count(sqlite_orders, Order), count(sqlite_orders, OrderEvent)) == before
    assert status_of(sqlite_orders, "A66001") == "paid"


def test_concurrent_cancels_write_once(sqlite_orders: OrderService) -> None:
    outcomes: list[str] = []

    def cancel(n: int) -> None:
        try:
            sqlite_orders.cancel_order("A66001", email="tom.b@outlook.com", idempotency_key=f"client-{n}")
            outcomes.append("ok")
        except ConflictError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=cancel, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_cancelled"] * 5 + ["ok"]
    assert count(sqlite_orders, Refund, order_id="A66001") == 1


def test_postgresql_backend_end_to_end(postgres_orders: OrderService) -> None:
    """The same rules on PostgreSQL (row locks, schema, JSON columns): verify, cancel once, refuse, injection."""
    orders = postgres_orders
    assert orders.get_order("A48213", email="mia.k@gmail.com")["status"] == "shipped"
    with pytest.raises(NotFound):
        orders.get_order("A48213", email="jane.doe@example.com")
    first = orders.cancel_order("A66001", email="tom.b@outlook.com", idempotency_key="pg-1")
    again = orders.cancel_order("A66001", email="tom.b@outlook.com", idempotency_key="pg-1")
    assert first["status"] == "cancelled" and again["replayed"]
    assert count(orders, Refund, order_id="A66001") == 1
    assert count(orders, OrderEvent, order_id="A66001", kind="cancelled") == 1
    before = count(orders, Order)
    for payload in INJECTIONS:
        with pytest.raises(NotFound):
            orders.get_order(payload, email=payload)
    assert count(orders, Order) == before
    opened = orders.start_return("A40404", email="raj.patel@yahoo.com", reason="too small", idempotency_key="pg-r")
    assert opened["return"]["status"] == "requested"
    assert count(orders, ReturnRequest, order_id="A40404") == 1
