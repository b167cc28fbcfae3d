"""User goals (Schatzmann's G = (C, R)): what a simulated shopper wants, and the pool they come from.

A goal is a task (``return_item``), the constraint values the shopper knows (order id, email,
reason), which of them they say up front, a persona, and whether they change their mind. The pool
is generated once from ``goal_seed`` and split into training and held-out goals, so evaluation
runs on goals the policy never trained on. A goal is *achievable* when the shop's systems accept
its request with the shopper's true values (an unknown order id or an expired return window make
it unachievable: the upper bound on success).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.config import Persona, SimulatorConfig
from simulator.outcomes import EMAIL_SLOT, ORDER_SLOT, PHONE_SLOT, OutcomeService
from simulator.tasks import TaskCatalog, TaskSpec

DEFAULT_POOLS: dict[str, list[str]] = {
    "return_reason": ["too small", "too big", "arrived damaged", "wrong item", "not as described",
                      "changed my mind", "the wrong color", "stopped working"],
    "new_address": ["Hauptstrasse 12, 10115 Berlin", "221B Baker Street, London NW1 6XE",
                    "45 Maple Avenue, Springfield", "Flat 3, 18 Rose Lane, Manchester M1 2AB",
                    "7 Rue de la Paix, 75002 Paris", "Calle Mayor 5, 28013 Madrid"],
    "category": ["running shoes", "headphones", "phones", "laptops", "jackets", "backpacks", "socks",
                 "chargers", "power banks", "phone cases", "smartwatches", "hoodies"],
    "brand": ["Nike", "Adidas", "Sony", "Apple", "Samsung", "Anker", "Patagonia", "Garmin"],
    "color": ["black", "white", "red", "blue", "green", "grey"],
    "product": ["Galaxy S24", "Pegasus 40", "WH-1000XM5", "MacBook Air", "Forerunner 265", "PowerCore 10000",
                "Torrentshell jacket", "Ultraboost 22"],
    "size": ["S", "M", "L", "XL", "42", "44"],
}
DEFAULT_INVALID_ORDER_IDS = ["A00000", "A99999", "A12345", "B10001", "A00417", "A31415"]


@dataclass(frozen=True)
class UserGoal:
    """One shopper's goal.

    :param task: what they want
    :param values: the true value of every slot they know
    :param upfront: slots they give in their first message
    :param persona: how they behave
    :param keep: a cancel goal where the shopper decides to keep the order when asked to confirm
    :param decoy_intent: an intent they start with before switching to ``task.intent`` (changed mind)
    :param achievable: the shop's systems accept the request with the true values
    :param goal_id: index in the pool
    """

    task: TaskSpec
    values: Mapping[str, Any]
    upfront: tuple[str, ...] = ()
    persona: Persona = field(default_factory=Persona)
    keep: bool = False
    decoy_intent: str | None = None
    achievable: bool = True
    goal_id: int = 0

    def describe(self) -> str:
        vals = ", ".join(f"{k}={v}" for k, v in self.values.items())
        extra = " (keeps the order)" if self.keep else ""
        extra += f" (starts with {self.decoy_intent})" if self.decoy_intent else ""
        extra += "" if self.achievable else " [not achievable]"
        return f"{self.task.intent}: {vals}{extra} — {self.persona.name}"


class ValuePools:
    """Values shoppers use per slot (simulator.yml ``values:`` over the built-in pools), plus the orders."""

    def __init__(self, config: SimulatorConfig, orders: Sequence[Any]) -> None:
        self.pools: dict[str, list[str]] = {k: list(v) for k, v in DEFAULT_POOLS.items()}
        self.pools.update({k: list(v) for k, v in config.values.items() if v})
        self.orders = list(orders)
        self.invalid_order_ids = list(config.invalid_order_ids or DEFAULT_INVALID_ORDER_IDS)
        self.pools[ORDER_SLOT] = [o.order_id for o in self.orders] + self.invalid_order_ids
        self.pools[EMAIL_SLOT] = sorted({o.email for o in self.orders}) or ["someone@example.com"]
        phones = sorted({o.phone for o in self.orders if o.phone})
        self.pools[PHONE_SLOT] = phones or ["+44 7700 900123"]

    def pool(self, slot: str) -> list[str]:
        return self.pools.get(slot) or [f"{slot.replace('_', ' ')} {i}" for i in range(1, 6)]


class GoalPool:
    """A fixed, seeded set of goals split into training and held-out goals.

    :param catalog: the shop's tasks
    :param config: goal mix, personas, value pools
    :param outcomes: the shop: its orders, and the real action that decides achievability with the true values
    """

    def __init__(self, catalog: TaskCatalog, config: SimulatorConfig, outcomes: OutcomeService) -> None:
        self.catalog = catalog
        self.config = config
        self.values = ValuePools(config, outcomes.orders())
        rng = np.random.default_rng(config.goal_seed)
        intents = sorted(i for i in catalog.tasks if not config.goal_mix or config.goal_mix.get(i, 0) > 0)
        if not intents:
            raise ValueError("the shop has no tasks (no intent leads to a form or a custom action)")
        weights = np.array([config.goal_mix.get(i, 1.0) if config.goal_mix else 1.0 for i in intents], float)
        weights /= weights.sum()
        pweights = np.array([p.weight for p in config.personas], float)
        pweights /= pweights.sum()
        self.goals: list[UserGoal] = [
            self._sample(i, rng, intents, weights, pweights, outcomes) for i in range(config.goal_pool)
        ]
        n_test = int(round(len(self.goals) * config.heldout_fraction))
        self.train = self.goals[: len(self.goals) - n_test] or self.goals
        self.test = self.goals[len(self.goals) - n_test:] or self.goals

    def split(self, name: str) -> list[UserGoal]:
        if name not in ("train", "test", "all"):
            raise ValueError(f"goal split must be train, test or all, got {name!r}")
        return {"train": self.train, "test": self.test, "all": self.goals}[name]

    def achievable_rate(self, name: str) -> float:
        goals = self.split(name)
        return sum(g.achievable for g in goals) / len(goals)

    def _sample(self, goal_id: int, rng: np.random.Generator, intents: list[str], weights: np.ndarray,
                pweights: np.ndarray, outcomes: OutcomeService) -> UserGoal:
        task = self.catalog.tasks[intents[int(rng.choice(len(intents), p=weights))]]
        persona = self.config.personas[int(rng.choice(len(self.config.personas), p=pweights))]
        values: dict[str, Any] = {}
        slots = list(task.required_slots) + [s for s in task.optional_slots if rng.random() < 0.5]
        order = None
        keep = bool(task.confirm_slots) and rng.random() < persona.p_change_mind
        if any(s in (ORDER_SLOT, EMAIL_SLOT, PHONE_SLOT) for s in slots):
            if self.values.orders and rng.random() >= self.config.p_invalid_order_id:
                order = self._pick_order(rng, task, keep, outcomes)
        for slot in slots:
            if slot == ORDER_SLOT:
                values[slot] = order.order_id if order else _pick(rng, self.values.invalid_order_ids)
            elif slot == EMAIL_SLOT:
                values[slot] = order.email if order else _pick(rng, self.values.pool(EMAIL_SLOT))
            elif slot == PHONE_SLOT:
                values[slot] = (order.phone if order and order.phone else _pick(rng, self.values.pool(PHONE_SLOT)))
            elif slot in task.confirm_slots:
                values[slot] = not keep
            else:
                values[slot] = _pick(rng, self.values.pool(slot))
        upfront = tuple(s for s in slots if s not in task.confirm_slots and rng.random() < persona.p_upfront)
        decoy = None
        others = [i for i in intents if not self.catalog.tasks[i].requires_human and i != task.intent]
        if not keep and others and rng.random() < persona.p_change_mind:
            decoy = others[int(rng.integers(len(others)))]
        if task.requires_human:
            achievable = True
        else:
            achievable = outcomes.run(task.action, values).ok
        return UserGoal(task, values, upfront, persona, keep, decoy, achievable, goal_id)


    def _pick_order(self, rng: np.random.Generator, task: TaskSpec, keep: bool, outcomes: OutcomeService) -> Any:
        """A random order; with ``p_feasible_order`` one the shop can act on for this task (if any)."""
        orders = self.values.orders
        if rng.random() >= self.config.p_feasible_order:
            return orders[int(rng.integers(len(orders)))]
        for index in rng.permutation(len(orders))[:50]:
            order = orders[int(index)]
            trial = {ORDER_SLOT: order.order_id, EMAIL_SLOT: order.email, PHONE_SLOT: order.phone}
            trial.update({s: (not keep) for s in task.confirm_slots})
            trial.update({s: self.values.pool(s)[0] for s in task.required_slots if s not in trial})
            if outcomes.run(task.action, {s: trial[s] for s in task.required_slots}).ok:
                return order
        return orders[int(rng.integers(len(orders)))]


def _pick(rng: np.random.Generator, pool: Sequence[str]) -> str:
    return str(pool[int(rng.integers(len(pool)))])
