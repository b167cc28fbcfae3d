"""What the shop's systems answer when the simulated bot runs a custom action.

The simulator never decides on its own whether an order can be cancelled: it asks an
:class:`OutcomeService`. :class:`BackendOutcomeService` is a thin adapter over the ``backends``
package's in-process order and recommendation logic (the same code the action server calls over
HTTP), so an unknown order or an expired return window happens for real. ``backends/simulation.py``
seeds an in-memory order database once per process and runs every call inside a transaction that is
rolled back: every call is a dry run, so one simulated dialogue cannot change the next one's world.
The shoppers' order ids and emails come from those seeded orders. The demo shop uses it
(``outcomes: backends`` in ``simulator.yml``).

:class:`TableOutcomeService` answers from facts written in ``simulator.yml`` (``outcomes: table``
and ``orders:`` with the actions each order refuses); fixture shops without backends use it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

ORDER_SLOT = "order_id"
EMAIL_SLOT = "email"
PHONE_SLOT = "phone"


@dataclass(frozen=True)
class Outcome:
    """A backend's answer to one action.

    :param ok: the request was carried out (or the information was found)
    :param reason: ``ok`` or why not (``not_found``, ``email_mismatch``, ``refused:<why>``, ``missing:<slot>``)
    :param slots: slot values the action sets (``order_status``)
    :param text: what the bot tells the shopper
    """

    ok: bool
    reason: str = "ok"
    slots: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class OrderFacts:
    """An order a simulated shopper may own."""

    order_id: str
    email: str
    phone: str | None = None
    status: str = "unknown"


class OutcomeService(Protocol):
    """Answers the shop's custom actions in process (see the module docstring)."""

    def orders(self) -> Sequence[OrderFacts]:
        """The orders shoppers can ask about."""

    def run(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        """What ``action`` does with these slot values (a dry run: nothing is kept)."""


ORDER_ACTIONS = ("action_check_order_status", "action_cancel_order", "action_start_return",
                 "action_refund_status", "action_change_address")


class TableOutcomeService:
    """Outcomes from written facts: each order lists the actions its backend refuses and why.

    ``orders`` items: ``{order_id, email, phone?, status?, refuse?: {action: reason}}``. An unknown
    order id gives ``not_found``, an email or phone that does not match gives ``email_mismatch``;
    other actions succeed when their first required slot is filled.

    :param orders: the facts, as in ``simulator.yml``
    :param required: action -> slots it cannot run without
    """

    def __init__(self, orders: Sequence[Mapping[str, Any]], required: Mapping[str, Sequence[str]] | None = None) -> None:
        self._orders = {str(o["order_id"]): dict(o) for o in orders}
        self._required = {k: tuple(v) for k, v in (required or {}).items()}

    def orders(self) -> list[OrderFacts]:
        return [OrderFacts(k, str(o.get("email", "")), o.get("phone"), str(o.get("status", "unknown")))
                for k, o in self._orders.items()]

    def run(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        for slot in self._required.get(action, ()):
            if slots.get(slot) in (None, ""):
                return Outcome(False, f"missing:{slot}", text=f"I still need your {slot.replace('_', ' ')}.")
        if action == "action_cancel_order" and slots.get("confirm_cancel") is False:
            return Outcome(True, "kept", text="Okay, your order stays as it is.")
        if action in ORDER_ACTIONS or ORDER_SLOT in self._required.get(action, ()):
            order = self._orders.get(str(slots.get(ORDER_SLOT)))
            if order is None:
                return Outcome(False, "not_found", {"order_status": None},
                               text=f"I couldn't find an order {slots.get(ORDER_SLOT)}.")
            email, phone = slots.get(EMAIL_SLOT), slots.get(PHONE_SLOT)
            if (email is not None and email != order.get("email")) or (email is None and phone is not None
                                                                          and phone != order.get("phone")):
                return Outcome(False, "email_mismatch", {"order_status": None},
                               text="That email doesn't match the order.")
            refused = (order.get("refuse") or {}).get(action)
            if refused:
                return Outcome(False, f"refused:{refused}", text=f"Sorry, I can't do that: {refused}.")
            status = str(order.get("status", "unknown"))
            return Outcome(True, "ok", {"order_status": status}, text=f"Done for order {order['order_id']} ({status}).")
        return Outcome(True, "ok", text="Here you go.")


class BackendOutcomeService:
    """Adapter over the ``backends`` package (order service and recommendation service, in process).

    The backends expose their domain logic as Python; this class only translates slot values into
    their calls and their results into :class:`Outcome` (memoised: the answers are a pure function
    of the seeded database because every write is rolled back).

    :param seed: seed of the backends' order generator
    :param n_orders: how many orders to generate
    """

    def __init__(self, seed: int = 7, n_orders: int = 200) -> None:
        self._api = _load_backend_api()
        self._seed = seed
        self._n_orders = n_orders
        self._state = self._api.open(seed=seed, n_orders=n_orders)
        self._cache: dict[tuple[Any, ...], Outcome] = {}

    def orders(self) -> list[OrderFacts]:
        return [OrderFacts(**o) for o in self._api.orders(self._state)]

    def run(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        key = (action, *sorted((k, str(v)) for k, v in slots.items() if v is not None))
        hit = self._cache.get(key)
        if hit is None:
            hit = Outcome(**self._api.run(self._state, action, dict(slots)))
            self._cache[key] = hit
        return hit

    def __getstate__(self) -> dict[str, Any]:  # SubprocVecEnv pickles env factories, not open databases
        return {"seed": self._seed, "n_orders": self._n_orders, "cache": self._cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["seed"], state["n_orders"])  # type: ignore[misc]
        self._cache.update(state.get("cache") or {})  # the answers are a pure function of (seed, n_orders)


BACKEND_ADAPTER_MODULE = "backends.simulation"
_BACKEND_SERVICES: dict[int, BackendOutcomeService] = {}


def _load_backend_api() -> Any:
    """The backends' simulation entry points (``open``, ``orders``, ``run``), or ImportError."""
    return importlib.import_module(BACKEND_ADAPTER_MODULE)


def backends_available() -> bool:
    try:
        _load_backend_api()
    except ImportError:
        return False
    return True


def default_outcome_service(orders: Sequence[Mapping[str, Any]], required: Mapping[str, Sequence[str]],
                            source: str = "auto", seed: int = 7) -> OutcomeService:
    """The shop's systems: the backends when installed (``auto``/``backends``), else the facts table."""
    if source in ("auto", "backends") and backends_available():
        service = _BACKEND_SERVICES.get(seed)
        if service is None:  # one seeded database (and one answer cache) per process, shared by every world
            service = _BACKEND_SERVICES[seed] = BackendOutcomeService(seed=seed)
        return service
    if source == "backends":
        logger.warning("simulator: outcomes: backends, but %s is not importable; answering from simulator.yml "
                       "orders instead", BACKEND_ADAPTER_MODULE)
    if not orders:
        logger.warning("simulator: no backends and simulator.yml lists no orders; every order lookup will say "
                       "'not found'")
    return TableOutcomeService(orders, required)
