"""The demo shop's simulator answers custom actions with the real order service (backends/simulation.py)."""

from __future__ import annotations

import pickle

import pytest

from backends import simulation
from simulator.outcomes import BackendOutcomeService


@pytest.fixture(scope="module")
def shop() -> BackendOutcomeService:
    return BackendOutcomeService(seed=7, n_orders=120)


def _order(shop: BackendOutcomeService, status: str):
    return next(o for o in shop.orders() if o.status == status)


def test_orders_come_from_the_seeded_database(shop):
    orders = shop.orders()
    assert len(orders) == 120
    assert {"paid", "shipped", "delivered"} <= {o.status for o in orders}
    again = BackendOutcomeService(seed=7, n_orders=120).orders()
    assert [o.order_id for o in again] == [o.order_id for o in orders]  # seeded: same shop every time


def test_cancel_of_a_shipped_order_is_refused_by_the_service(shop):
    order = _order(shop, "shipped")
    outcome = shop.run("action_cancel_order", {"order_id": order.order_id, "email": order.email,
                                               "confirm_cancel": True})
    assert not outcome.ok
    assert outcome.reason == "refused:not_cancellable"
    assert outcome.slots["order_status"] == "shipped"


def test_cancel_of_a_paid_order_succeeds_but_is_not_kept():
    state = simulation.open(seed=7, n_orders=120)
    order = next(o for o in simulation.orders(state) if o["status"] == "paid")
    slots = {"order_id": order["order_id"], "email": order["email"], "confirm_cancel": True}
    first = simulation.run(state, "action_cancel_order", slots)
    assert first["ok"] and first["slots"]["order_status"] == "cancelled"
    # rolled back: the next dialogue finds the order paid and can cancel it again
    status = simulation.run(state, "action_check_order_status", slots)
    assert status["ok"] and status["slots"]["order_status"] == "paid"
    assert simulation.run(state, "action_cancel_order", slots)["ok"]
    assert state.service.get_order(order["order_id"], email=order["email"])["status"] == "paid"
    simulation.close(state)


def test_unknown_order_wrong_email_and_missing_details(shop):
    order = _order(shop, "delivered")
    assert shop.run("action_check_order_status", {"order_id": "A00000", "email": order.email}).reason == "not_found"
    wrong = shop.run("action_check_order_status", {"order_id": order.order_id, "email": "someone@else.com"})
    assert wrong.reason == "not_found"  # the service never says which of the two was wrong
    assert shop.run("action_refund_status", {"order_id": order.order_id}).reason == "missing:email"
    assert shop.run("action_cancel_order", {"order_id": order.order_id, "email": order.email,
                                            "confirm_cancel": False}).reason == "kept"


def test_return_window_is_checked_for_real(shop):
    reasons = {shop.run("action_start_return", {"order_id": o.order_id, "email": o.email,
                                                "return_reason": "too small"}).reason
               for o in shop.orders() if o.status == "delivered"}
    assert "refused:return_window_closed" in reasons


def test_pickles_with_its_answers(shop):
    order = _order(shop, "paid")
    slots = {"order_id": order.order_id, "email": order.email}
    expected = shop.run("action_check_order_status", slots)
    copy = pickle.loads(pickle.dumps(shop))
    assert copy.run("action_check_order_status", slots) == expected


def test_demo_world_uses_the_backends(demo_world):
    assert isinstance(demo_world.outcomes, BackendOutcomeService)
    seeded = {o.order_id for o in demo_world.outcomes.orders()}
    order_goals = [g for g in demo_world.goals.goals if "order_id" in g.values]
    assert sum(g.values["order_id"] in seeded for g in order_goals) > 0.8 * len(order_goals)
    assert any(not g.achievable for g in order_goals)
