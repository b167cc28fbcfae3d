"""The backends as the user simulator runs them: the real order and recommendation services, in process.

- :func:`open` seeds an in-memory SQLite order database (``backends.orders.seed``, fixed clock, so the same seed
  gives the same orders, the same shipped parcels and the same closed return windows);
- :func:`orders` lists the orders simulated shoppers own (a status-balanced, seeded sample of the seeded ones);
- :func:`begin_dialogue` rolls back everything the previous dialogue wrote and opens a new transaction, so a
  shopper who cancels an order sees it cancelled for the rest of the dialogue and the next shopper finds it
  paid again;
- :func:`recommender` is the trained two-tower recommender (None when none is trained).

The simulator runs the shop's real actions (``actions/``) on these services through
:mod:`actions.local_backends`; nothing here decides what an action does.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from backends.constants import DEFAULT_RECO_MODEL_DIR
from backends.errors import BackendError
from backends.orders.models import Customer, Order
from backends.orders.seed import seed_orders
from backends.orders.service import OrderService, create_db_engine

logger = logging.getLogger(__name__)

# The simulated shop's "now": fixed, so order ages (shipped yesterday, delivered 40 days ago) never drift.
SIMULATION_NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ORDERS_PER_CUSTOMER = 4  # the seeded log gives ~6 orders per shopper; seed enough shoppers for n_orders
SIMULATION_SEED = 7
SIMULATION_ORDERS = 200


@dataclass
class SimulationState:
    """One seeded shop: the order service over one connection whose transactions are rolled back."""

    service: OrderService
    connection: Connection
    engine: Engine
    orders: list[dict[str, Any]]
    seed: int
    reco_model_dir: Path | None = None
    _recommender: Any = field(default=None, repr=False)
    transaction: Any = field(default=None, repr=False)


def simulation_clock() -> datetime:
    """The simulated shop's "now"."""
    return SIMULATION_NOW


def seed_simulated_shop(service: OrderService, seed: int = SIMULATION_SEED, n_orders: int = SIMULATION_ORDERS) -> Any:
    """Seed ``service``'s database with the simulated shop's orders (``kefu backends --simulated-shop`` serves
    the same shop over HTTP, so ``kefu sim evaluate --url`` shoppers own real orders there)."""
    return seed_orders(service, n_customers=max(20, n_orders // ORDERS_PER_CUSTOMER), seed=seed, now=SIMULATION_NOW)


def open(seed: int = SIMULATION_SEED, n_orders: int = SIMULATION_ORDERS,  # noqa: A001
         reco_model_dir: str | Path | None = None) -> SimulationState:
    """Seed an in-memory order database and pick the ``n_orders`` orders shoppers may own."""
    engine = create_db_engine("sqlite://")
    seed_simulated_shop(OrderService(engine, clock=simulation_clock), seed, n_orders)
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
    service = OrderService(connection, clock=simulation_clock)  # type: ignore[arg-type]
    model_dir = Path(reco_model_dir) if reco_model_dir else _default_reco_dir()
    return SimulationState(service, connection, engine, sorted(picked, key=lambda o: o["order_id"]), seed, model_dir)


def orders(state: SimulationState) -> list[dict[str, Any]]:
    """``{order_id, email, phone, status}`` of the orders shoppers may own."""
    return [dict(o) for o in state.orders]


def close(state: SimulationState) -> None:
    state.connection.close()
    state.engine.dispose()


def begin_dialogue(state: SimulationState) -> None:
    """Forget the previous dialogue's writes and keep this one's until the next call."""
    if state.transaction is not None and state.transaction.is_active:
        state.transaction.rollback()
    state.transaction = state.connection.begin()


# ---------------------------------------------------------------------------------------------------- products

def _default_reco_dir() -> Path:
    return Path(__file__).resolve().parents[1] / DEFAULT_RECO_MODEL_DIR


def recommender(state: SimulationState) -> Any:
    """The trained recommender (loaded on first use), or None when none is trained."""
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
    return state._recommender or None
