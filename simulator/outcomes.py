"""What a simulated shopper learns from a custom action, and the shop's systems as the simulator sees them.

The simulator never decides whether an order can be cancelled: it runs the shop's real action
(:mod:`simulator.shop`) and reads the reply. :class:`Outcome` is that reading; :class:`OutcomeService` is what
the goal pool asks (which orders exist, and would this action succeed with the shopper's true values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ORDER_SLOT = "order_id"
EMAIL_SLOT = "email"
PHONE_SLOT = "phone"


@dataclass(frozen=True)
class Outcome:
    """A backend's answer to one action.

    :param ok: the request was carried out (or the information was found)
    :param reason: ``ok``, or the failure response the shopper heard (``utter_order_not_found``), or
        ``error`` when the action failed
    :param slots: slot values the action set (``order_status``)
    :param text: what the bot told the shopper
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
    """The shop's systems as the goal pool sees them (see the module docstring)."""

    def orders(self) -> Sequence[OrderFacts]:
        """The orders shoppers can ask about."""

    def run(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        """What ``action`` does with these slot values (nothing it writes is kept)."""
