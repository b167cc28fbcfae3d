"""The backends as the user simulator sees them: the real order and recommendation logic, in process, dry-run.

``simulator.outcomes.BackendOutcomeService`` imports this module and calls three functions:

- :func:`open` seeds an in-memory SQLite order database once (``backends.orders.seed``, fixed clock, so the
  same seed gives the same orders, the same shipped parcels and the same closed return windows);
- :func:`orders` lists the orders simulated shoppers own (a status-balanced, seeded sample of the seeded ones);
- :func:`run` answers one custom action by calling :class:`~backends.orders.service.OrderService` (or the
  recommender) exactly as the action server would, inside a transaction that is always rolled back, so a
  cancelled order is back to ``paid`` for the next call and the next dialogue.

Nothing here decides whether an order can be cancelled or returned: that is the order service's logic.
The answers are ``{ok, reason, slots, text}``; ``reason`` is ``ok``, ``kept``, ``not_found``,
``missing:<slot>``, ``refused:<code>`` (the service's conflict code) or ``invalid:<code>``.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from backends.constants import DEFAULT_RECO_MODEL_DIR
from backends.errors import BackendError, ConflictError, InvalidRequest, NotFound
from backends.orders.models import Customer, Order
from backends.orders.seed import seed_orders
from backends.orders.service import OrderService, create_db_engine

logger = logging.getLogger(__name__)

# The simulated shop's "now": fixed, so order ages (shipped yesterday, delivered 40 days ago) never drift.
SIMULATION_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ORDERS_PER_CUSTOMER = 4  # the seeded log gives ~6 orders per shopper; seed enough shoppers for n_orders
RECOMMENDATIONS_SHOWN = 3

ORDER_ACTIONS = frozenset({"action_check_order_status", "action_cancel_order", "action_start_return",
                           "action_refund_status", "action_change_address"})
RECOMMEND_ACTION = "action_recommend_products"
PRODUCT_ACTION = "action_product_info"
CHAT_REASON = "requested in chat"

_INVALID_TO_MISSING = {"missing_order_id": "order_id", "verification_required": "email",
                       "missing_reason": "return_reason"}


@dataclass
class SimulationState:
    """One seeded shop: the order service over a connection whose transactions are always rolled back."""

    service: OrderService
    connection: Connection
    engine: Engine
    orders: list[dict[str, Any]]
    seed: int
    reco_model_dir: Path | None = None
    _recommender: Any = field(default=None, repr=False)


def open(seed: int = 7, n_orders: int = 200, reco_model_dir: str | Path | None = None) -> SimulationState:  # noqa: A001
    """Seed an in-memory order database and pick the ``n_orders`` orders shoppers may own."""
    engine = create_db_engine("sqlite://")
    seeding = OrderService(engine, clock=lambda: SIMULATION_NOW)
    seed_orders(seeding, n_customers=max(20, n_orders // ORDERS_PER_CUSTOMER), seed=seed, now=SIMULATION_NOW)
    with Session(engine) as session:
        rows = session.execute(select(Order.id, Order.status, Customer.email, Customer.phone)
                               .join(Customer).order_by(Order.id)).all()
    by_status: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for oid, status, email, phone in rows:
        by_status[status].append({"order_id": oid, "email": email, "phone": phone, "status": status})
    rng = random.Random(seed)
    for group in by_status.values():
        rng.shuffle(group)
    picked: list[dict[str, Any]] = []
    groups = [by_status[s] for s in sorted(by_status)]
    while len(picked) < n_orders and any(groups):  # round robin: rare states (paid, shipped) all make it in
        for group in groups:
            if group and len(picked) < n_orders:
                picked.append(group.pop())
    # Every call runs inside one outer transaction on this connection that is rolled back afterwards; the
    # service's own sessions join it, so their commits never reach the database.
    connection = engine.connect()
    service = OrderService(connection, clock=lambda: SIMULATION_NOW)  # type: ignore[arg-type]
    model_dir = Path(reco_model_dir) if reco_model_dir else _default_reco_dir()
    return SimulationState(service, connection, engine, sorted(picked, key=lambda o: o["order_id"]), seed, model_dir)


def orders(state: SimulationState) -> list[dict[str, Any]]:
    """``{order_id, email, phone, status}`` of the orders shoppers may own."""
    return [dict(o) for o in state.orders]


def close(state: SimulationState) -> None:
    state.connection.close()
    state.engine.dispose()


def run(state: SimulationState, action: str, slots: Mapping[str, Any]) -> dict[str, Any]:
    """What ``action`` does with these slot values; every write is rolled back."""
    if action in ORDER_ACTIONS:
        return _order_action(state, action, slots)
    if action == RECOMMEND_ACTION:
        return _recommend(state, slots)
    if action == PRODUCT_ACTION:
        return _product_info(state, slots)
    return _answer(True, "ok", text="Here you go.")


# ---------------------------------------------------------------------------------------------------- orders

def _order_action(state: SimulationState, action: str, slots: Mapping[str, Any]) -> dict[str, Any]:
    oid, email, phone = slots.get("order_id"), slots.get("email"), slots.get("phone")
    if oid in (None, ""):
        return _answer(False, "missing:order_id", text="Which order is it about? Order numbers look like A12345.")
    if not email and not phone:
        return _answer(False, "missing:email", text="What's the email address on the order?")
    oid, who = str(oid), {"email": _str(email), "phone": _str(phone)}
    service = state.service
    calls: dict[str, Callable[[], dict[str, Any]]] = {
        "action_check_order_status": lambda: service.get_order(oid, **who),
        "action_refund_status": lambda: service.refund_status(oid, **who),
        "action_cancel_order": lambda: service.cancel_order(oid, **who, reason=CHAT_REASON),
        "action_start_return": lambda: service.start_return(oid, **who,
                                                            reason=str(slots.get("return_reason") or "")),
        "action_change_address": lambda: service.change_address(oid, **who,
                                                                new_address=str(slots.get("new_address") or "")),
    }
    if action == "action_cancel_order" and slots.get("confirm_cancel") is False:
        return _answer(True, "kept", text=f"Okay, I haven't touched order {oid}; it stays as it is.")
    try:
        result = _dry_run(state, calls[action])
    except NotFound:
        return _answer(False, "not_found", {"order_status": None},
                       f"I couldn't find an order {oid} with that email address or phone number.")
    except InvalidRequest as exc:
        missing = _INVALID_TO_MISSING.get(exc.code)
        return _answer(False, f"missing:{missing}" if missing else f"invalid:{exc.code}", text=exc.message)
    except ConflictError as exc:
        status = exc.details.get("status")
        return _answer(False, f"refused:{exc.code}", {"order_status": status} if status else {}, exc.message)
    status = {"action_cancel_order": "cancelled", "action_start_return": "return requested"}.get(
        action, result.get("status") or result.get("order_status"))
    return _answer(True, "ok", {"order_status": status}, f"Done for order {result['order_id']} ({status}).")


def _dry_run(state: SimulationState, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    transaction = state.connection.begin()
    try:
        return call()
    finally:
        if transaction.is_active:
            transaction.rollback()


# ---------------------------------------------------------------------------------------------------- products

def _default_reco_dir() -> Path:
    return Path(__file__).resolve().parents[1] / DEFAULT_RECO_MODEL_DIR


def _recommender(state: SimulationState) -> Any:
    """The trained recommender (loaded on first use), or ``False`` when none is trained."""
    if state._recommender is None:
        state._recommender = False
        if state.reco_model_dir is not None and (state.reco_model_dir / "params.json").exists():
            from backends.recommend.service import Recommender

            try:
                state._recommender = Recommender.load(state.reco_model_dir)
            except (BackendError, OSError, ValueError, KeyError) as exc:
                logger.warning("simulation: cannot load the recommender in %s (%s)", state.reco_model_dir, exc)
        if state._recommender is False:
            logger.warning("simulation: no trained recommender in %s (kefu train recommender); product questions "
                           "and recommendations fail as they would live", state.reco_model_dir)
    return state._recommender


def _recommend(state: SimulationState, slots: Mapping[str, Any]) -> dict[str, Any]:
    context = " ".join(str(slots[s]) for s in ("color", "brand", "category", "product") if slots.get(s))
    if not context:
        return _answer(False, "missing:category", text="What are you looking for?")
    recommender = _recommender(state)
    if recommender is False:
        return _answer(False, "unavailable", text="Product recommendations are not available right now.")
    try:
        items = recommender.recommend(None, k=RECOMMENDATIONS_SHOWN, context=context)["items"]
    except BackendError as exc:
        return _answer(False, f"invalid:{exc.code}", text=exc.message)
    if not items:
        return _answer(False, "not_found", text=f"I couldn't find anything for \"{context}\".")
    return _answer(True, "ok", text="; ".join(i["pitch"] for i in items))


def _product_info(state: SimulationState, slots: Mapping[str, Any]) -> dict[str, Any]:
    query = str(slots.get("product") or slots.get("category") or "").strip()
    if not query:
        return _answer(False, "missing:product", text="Which product would you like to know about?")
    recommender = _recommender(state)
    if recommender is False:
        return _answer(False, "unavailable", text="The product catalog is not available right now.")
    found = recommender.search(query, k=1)
    if not found:
        return _answer(False, "not_found", text=f"I couldn't find \"{query}\" in our shop.")
    item = found[0]
    return _answer(True, "ok", text=f"The {item.title} ({item.category}) costs {item.price:.2f}.")


def _answer(ok: bool, reason: str, slots: Mapping[str, Any] | None = None, text: str = "") -> dict[str, Any]:
    return {"ok": ok, "reason": reason, "slots": dict(slots or {}), "text": text}


def _str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
