"""Synthetic interaction logs (views and purchases) with the structure of real shopping missions.

A shopper starts a *mission* in one of their interest categories (a phone, running shoes...), views a few
candidates, buys one (preferring their brands and budget), and then, over the following days, often buys
accessories that fit it: a case made for that phone, a charger with the right connector, running socks. Now and
then they buy an accessory on its own. ``time_split`` cuts the log at a point in time for evaluation.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backends.catalog import CATEGORIES, Catalog, Item, fits
from backends.constants import EVENT_PURCHASE, EVENT_VIEW
from backends.shoppers import DEMO_ORDERS, DEMO_SHOPPERS, Shopper

DAY = 86_400.0
# 2026-01-01T00:00:00Z: the synthetic log ends here; services shift it to "now" when they need to.
LOG_END = 1_767_225_600.0


@dataclass(frozen=True)
class Interaction:
    """One event of the log: ``user_id`` viewed or purchased ``item_id`` at ``ts`` (epoch seconds)."""

    user_id: str
    item_id: str
    ts: float
    event: str = EVENT_PURCHASE

    def to_row(self) -> list:
        return [self.user_id, self.item_id, round(self.ts, 1), self.event]

    @classmethod
    def from_row(cls, row: Sequence) -> Interaction:
        return cls(str(row[0]), str(row[1]), float(row[2]), str(row[3]))


def _weighted(rng: random.Random, items: Sequence[Item], weights: Sequence[float]) -> Item:
    return rng.choices(items, weights=weights, k=1)[0]


def _taste(item: Item, shopper: Shopper, price_span: tuple[float, float]) -> float:
    """How much ``shopper`` likes ``item``: popularity prior x brand affinity x budget fit."""
    low, high = price_span
    relative = 0.5 if high <= low else (item.price - low) / (high - low)
    budget_fit = math.exp(-3.0 * (relative - shopper.budget) ** 2)
    brand = 5.0 if item.brand in shopper.brand_affinity else 1.0
    return item.popularity * brand * (0.3 + budget_fit)


def generate_interactions(
    catalog: Catalog,
    shoppers: Sequence[Shopper],
    n_days: float = 180.0,
    seed: int = 42,
    end: float = LOG_END,
    missions_per_shopper: float = 3.5,
    complement_rate: float = 0.85,
    include_demo: bool = True,
) -> list[Interaction]:
    """A time-ordered log for ``shoppers`` over the ``n_days`` before ``end``.

    :param missions_per_shopper: mean number of shopping missions (1 + Poisson)
    :param complement_rate: probability that a mission's main purchase is followed by fitting accessories
    :param include_demo: add the purchases of ``DEMO_ORDERS`` for the named demo shoppers
    """
    rng = random.Random(seed * 104729 + 3)
    by_category: dict[str, list[Item]] = defaultdict(list)
    for item in catalog:
        by_category[item.category].append(item)
    spans = {cat: (min(i.price for i in items), max(i.price for i in items)) for cat, items in by_category.items()}
    accessories = [name for name, spec in CATEGORIES.items() if not spec.anchor and name in by_category]
    start = end - n_days * DAY
    log: list[Interaction] = []

    def pick(category: str, shopper: Shopper, anchor: Item | None = None) -> Item | None:
        candidates = [item for item in by_category.get(category, []) if anchor is None or fits(item, anchor)]
        if not candidates:
            return None
        weights = [_taste(item, shopper, spans[category]) for item in candidates]
        if anchor is not None:
            weights = [w * (2.0 if item.brand == anchor.brand else 1.0) for w, item in zip(weights, candidates,
                                                                                           strict=True)]
        return _weighted(rng, candidates, weights)

    for shopper in shoppers:
        n_missions = 1 + _poisson(rng, missions_per_shopper - 1)
        interests = list(shopper.interests)
        weights = [shopper.interests[c] for c in interests]
        for _ in range(n_missions):
            t = rng.uniform(start, end)
            if rng.random() < 0.15:
                category = rng.choice(accessories)
                item = pick(category, shopper)
                if item is not None:
                    log.append(Interaction(shopper.user_id, item.item_id, t))
                continue
            category = rng.choices(interests, weights=weights, k=1)[0]
            main = pick(category, shopper)
            if main is None:
                continue
            for _view in range(rng.randint(0, 3)):
                viewed = pick(category, shopper)
                if viewed is not None:
                    log.append(Interaction(shopper.user_id, viewed.item_id, t - rng.uniform(600, 6 * 3600),
                                           EVENT_VIEW))
            log.append(Interaction(shopper.user_id, main.item_id, t))
            if rng.random() >= complement_rate:
                continue
            complements = list(CATEGORIES[category].complements)
            n_extra = min(len(complements), 1 + int(rng.random() < 0.6) + int(rng.random() < 0.3))
            chosen = _sample_weighted(rng, complements, [1.0 / (rank + 1) for rank in range(len(complements))],
                                      n_extra)
            when = t
            for extra_category in chosen:
                extra = pick(extra_category, shopper, anchor=main)
                if extra is None:
                    continue
                when += rng.expovariate(1 / (4.0 * DAY))
                log.append(Interaction(shopper.user_id, extra.item_id, when))
    if include_demo:
        log.extend(demo_interactions(catalog, end))
    log.sort(key=lambda event: (event.ts, event.user_id, event.item_id))
    return log


def demo_interactions(catalog: Catalog, end: float = LOG_END) -> list[Interaction]:
    """The purchases of ``DEMO_ORDERS``, so the recommender knows what the demo shoppers bought."""
    by_title = {item.title: item for item in catalog}
    user_of = {shopper.email: shopper.user_id for shopper in DEMO_SHOPPERS}
    events = []
    for order in DEMO_ORDERS:
        for offset, title in enumerate(order.item_titles):
            item = by_title[title]
            events.append(Interaction(user_of[order.email], item.item_id, end - order.age_days * DAY + offset))
    return events


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    threshold, k, product = math.exp(-lam), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def _sample_weighted(rng: random.Random, population: Sequence[str], weights: Sequence[float], k: int) -> list[str]:
    pool, pool_weights, chosen = list(population), list(weights), []
    for _ in range(min(k, len(pool))):
        index = rng.choices(range(len(pool)), weights=pool_weights, k=1)[0]
        chosen.append(pool.pop(index))
        pool_weights.pop(index)
    return chosen


@dataclass(frozen=True)
class TimeSplit:
    """A log cut at ``cutoff``: train events before it, and per user the items purchased after it."""

    cutoff: float
    train: list[Interaction]
    holdout: dict[str, list[str]]


def time_split(log: Iterable[Interaction], train_fraction: float = 0.85) -> TimeSplit:
    """Cut ``log`` at the ``train_fraction`` quantile of purchase times.

    The holdout keeps, for users that have train history, the items they purchased after the cutoff and had
    not purchased before (re-buys are not something to recommend).
    """
    events = sorted(log, key=lambda e: e.ts)
    purchase_times = [e.ts for e in events if e.event == EVENT_PURCHASE]
    if not purchase_times:
        raise ValueError("the log has no purchases to split")
    cutoff = purchase_times[min(len(purchase_times) - 1, int(len(purchase_times) * train_fraction))]
    train = [e for e in events if e.ts < cutoff]
    seen: dict[str, set[str]] = defaultdict(set)
    for event in train:
        if event.event == EVENT_PURCHASE:
            seen[event.user_id].add(event.item_id)
    has_history = {e.user_id for e in train}
    holdout: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if (event.ts >= cutoff and event.event == EVENT_PURCHASE and event.user_id in has_history
                and event.item_id not in seen[event.user_id] and event.item_id not in holdout[event.user_id]):
            holdout[event.user_id].append(event.item_id)
    return TimeSplit(cutoff, train, {user: items for user, items in holdout.items() if items})


def histories(log: Iterable[Interaction]) -> dict[str, list[Interaction]]:
    """Events per user, oldest first."""
    grouped: dict[str, list[Interaction]] = defaultdict(list)
    for event in sorted(log, key=lambda e: e.ts):
        grouped[event.user_id].append(event)
    return dict(grouped)
