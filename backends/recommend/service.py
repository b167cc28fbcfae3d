"""The recommendation service's domain logic: load a trained model directory and answer requests in process.

``Recommender.recommend(user_id, k, context)`` ranks items for a shopper: warm shoppers through the two-tower
model (history -> user tower -> item index), cold-start shoppers by popularity x context match. It never
recommends what the shopper already bought, demotes accessories that fit none of their phones, lists what is in
stock before what is not, answers "accessories for my phone" with what goes with it (never another phone), and writes a
one-line pitch from the item's attributes and the shopper's history ("Since you bought the Samsung Galaxy S24:
..."). Each result also lists cross-category complements that go with it. No aiohttp here: the simulator
imports this module directly.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backends.catalog import Catalog, Item, search_items
from backends.constants import EVENT_PURCHASE, EVENT_TYPES
from backends.errors import InvalidRequest, ModelNotReady, NotFound
from backends.recommend.context import Context, parse_context
from backends.recommend.index import ItemIndex, make_index
from backends.recommend.interactions import Interaction
from backends.recommend.model import ItemFeatures, TwoTowerModel, pad_histories
from backends.recommend.pitch import EN, signals, write_pitch
from backends.recommend.train import CATALOG_FILE, LOG_FILE, TEXT_FILE, USERS_FILE, VECTORS_FILE

MAX_K = 50
_UNFIT_PENALTY = 0.6  # subtracted from the cosine of an accessory that fits none of the shopper's phones



@dataclass
class Recommendation:
    item: Item
    score: float
    pitch: str
    complement_of: Item | None
    complements: list[Item]

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item.item_id, "title": self.item.title, "category": self.item.category,
            "brand": self.item.brand, "price": self.item.price, "colors": list(self.item.colors),
            "in_stock": self.item.in_stock > 0, "score": round(float(self.score), 4), "pitch": self.pitch,
            "complement_of": self.complement_of.item_id if self.complement_of else None,
            "complements": [{"item_id": c.item_id, "title": c.title, "category": c.category, "price": c.price}
                            for c in self.complements],
        }


class Recommender:
    """Two-tower recommendations over one catalog, with shopper histories kept in memory.

    :param model: the trained two-tower model (eval mode)
    :param catalog: the catalog the model was trained on
    :param log: interaction log the shoppers' histories are built from
    :param aliases: email -> user id, so the action server may pass the shopper's email
    :param index: ``"exact"``, ``"faiss"``, ``"faiss-hnsw"`` or ``"auto"`` (see ``backends.recommend.index``)
    """

    def __init__(self, model: TwoTowerModel, catalog: Catalog, log: Sequence[Interaction],
                 aliases: dict[str, str] | None = None, index: str = "auto",
                 item_vectors: np.ndarray | None = None) -> None:
        self.model = model.eval()
        self.catalog = catalog
        self.aliases = {k.lower(): v for k, v in (aliases or {}).items()}
        self._position = {item.item_id: i for i, item in enumerate(catalog)}
        if item_vectors is None:
            with torch.no_grad():
                item_vectors = model.all_items().numpy()
        self.item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self._items_t = torch.as_tensor(self.item_vectors)
        self.index: ItemIndex = make_index(self.item_vectors, index)
        self.histories: dict[str, list[Interaction]] = {}
        for event in sorted(log, key=lambda e: e.ts):
            self.histories.setdefault(event.user_id, []).append(event)
        counts = Counter(e.item_id for e in log if e.event == EVENT_PURCHASE)
        total = sum(counts.values()) or 1
        self.popularity = np.array([(counts.get(i.item_id, 0) + 1) / (total + len(catalog)) for i in catalog])

    @classmethod
    def load(cls, path: Path, index: str = "auto") -> Recommender:
        """Load a directory written by ``kefu train recommender``; a missing one raises ``ModelNotReady``."""
        path = Path(path)
        if not (path / "params.json").exists():
            raise ModelNotReady(f"no trained recommender in {path}: run `kefu train recommender --out {path}`")
        catalog = Catalog.from_json(json.loads((path / CATALOG_FILE).read_text()))
        features = ItemFeatures.from_catalog(catalog, np.load(path / TEXT_FILE))
        model = TwoTowerModel.load(path, features)
        log = [Interaction.from_row(row) for row in json.loads((path / LOG_FILE).read_text())]
        aliases = json.loads((path / USERS_FILE).read_text()) if (path / USERS_FILE).exists() else {}
        vectors = np.load(path / VECTORS_FILE) if (path / VECTORS_FILE).exists() else None
        return cls(model, catalog, log, aliases, index, vectors)

    # ------------------------------------------------------------------ shoppers

    def resolve_user(self, user_id: str | None) -> str:
        """The canonical user id for an id or an email ("" for an anonymous shopper)."""
        user_id = (user_id or "").strip()
        return self.aliases.get(user_id.lower(), user_id)

    def history(self, user_id: str | None) -> list[Interaction]:
        return list(self.histories.get(self.resolve_user(user_id), []))

    def record(self, user_id: str, item_id: str, event: str = EVENT_PURCHASE, ts: float | None = None) -> Interaction:
        """Append a view or purchase to a shopper's history (the next request sees it)."""
        if event not in EVENT_TYPES:
            raise InvalidRequest(f"event must be one of {', '.join(EVENT_TYPES)}, got {event!r}", code="invalid_event")
        if item_id not in self._position:
            raise NotFound(f"no product with id {item_id!r}", code="product_not_found")
        user = self.resolve_user(user_id)
        if not user:
            raise InvalidRequest("user_id is required", code="missing_user_id")
        interaction = Interaction(user, item_id, time.time() if ts is None else ts, event)
        self.histories.setdefault(user, []).append(interaction)
        return interaction

    def forget(self, user_id: str | None) -> int:
        """Erase a shopper's history and email aliases (the right to be forgotten); returns the events removed."""
        user = self.resolve_user(user_id)
        removed = len(self.histories.pop(user, []))
        for alias in [a for a, target in self.aliases.items() if target == user]:
            del self.aliases[alias]
        return removed

    # ------------------------------------------------------------------ products

    def product(self, item_id: str) -> Item:
        item = self.catalog.get(item_id)
        if item is None:
            raise NotFound(f"no product with id {item_id!r}", code="product_not_found")
        return item

    def search(self, query: str, k: int = 5) -> list[Item]:
        """Products whose name matches ``query``; falls back to the context parser's category/brand match."""
        query = (query or "").strip()
        if not query:
            raise InvalidRequest("q is required", code="missing_query")
        found = search_items(self.catalog.items, query, limit=k)
        if found:
            return found
        context = parse_context(query, self.catalog)
        if context.empty:
            return []
        ranked = sorted(self.catalog, key=lambda item: (-context.match(item), -self.popularity[self._position[
            item.item_id]]))
        return [item for item in ranked[:k] if context.match(item) >= 0.5]

    # ------------------------------------------------------------------ ranking

    def user_vector(self, history: Sequence[Interaction]) -> np.ndarray:
        rows = [[(self._position[e.item_id], EVENT_TYPES.index(e.event)) for e in history
                 if e.item_id in self._position]]
        items, events = pad_histories(rows, self.model.params.max_history)
        with torch.no_grad():
            return self.model.users(items, events, self._items_t).numpy()[0]

    def recommend(self, user_id: str | None = None, k: int = 5, context: str | None = None,
                  exclude_purchased: bool = True, lang: str = EN) -> dict[str, Any]:
        """Top ``k`` items for a shopper, with scores, complements and pitches written in ``lang`` (JSON-ready)."""
        if not 1 <= k <= MAX_K:
            raise InvalidRequest(f"k must be between 1 and {MAX_K}, got {k}", code="invalid_k")
        started = time.perf_counter()
        user = self.resolve_user(user_id)
        history = self.histories.get(user, [])
        purchased = [self.catalog[e.item_id] for e in history if e.event == EVENT_PURCHASE and e.item_id in
                     self._position]
        wish = parse_context(context, self.catalog).for_owner_of(purchased)
        match = np.array([wish.match(item) for item in self.catalog]) if not wish.empty else None
        if history:
            strategy = "two_tower"
            scores = self.index_scores(self.user_vector(history))
            owned_phones = {p.item_id for p in purchased if p.category == "phone"}
            if owned_phones:
                for i, item in enumerate(self.catalog):
                    if item.compatible_with and not owned_phones & set(item.compatible_with):
                        scores[i] -= _UNFIT_PENALTY
            if match is not None:
                scores = scores + 0.5 * np.log(match)
        else:
            strategy = "popularity_context" if match is not None else "popularity"
            scores = self.popularity * (match if match is not None else 1.0)
        if exclude_purchased:
            for item in purchased:
                scores[self._position[item.item_id]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        # what can ship now comes first; an out-of-stock pick stays in the list, after the in-stock ones
        order = sorted(top, key=lambda i: self.catalog.items[i].in_stock <= 0)
        results = [self._explain(self.catalog.items[i], float(scores[i]), purchased, wish, lang) for i in order
                   if np.isfinite(scores[i])]
        return {
            "user_id": user or None, "known_user": bool(history), "strategy": strategy, "index": self.index.name,
            "context": wish.to_json(), "history": [p.title for p in purchased[-5:]],
            "items": [r.to_json() for r in results],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    def index_scores(self, user: np.ndarray) -> np.ndarray:
        """Scores of every item for one user vector, through the item index (exact or faiss)."""
        n = len(self.catalog)
        scores, indices = self.index.search(user[None, :], n)
        full = np.full(n, -np.inf)
        full[indices[0]] = scores[0]
        return full

    # ------------------------------------------------------------------ explanations

    def _complements(self, item: Item, n: int = 2) -> list[Item]:
        candidates = self.catalog.complements_of(item)
        if not candidates:
            return []
        vector = self.item_vectors[self._position[item.item_id]]
        ranked = sorted(candidates, key=lambda c: -(float(self.item_vectors[self._position[c.item_id]] @ vector)
                                                    + 0.2 * math.log(self.popularity[self._position[c.item_id]])))
        return ranked[:n]

    def _explain(self, item: Item, score: float, purchased: Sequence[Item], wish: Context,
                 lang: str = EN) -> Recommendation:
        goes_with = [p for p in purchased if self.catalog.is_complement(item, p)]
        asked_for = () if wish.accessories_for else tuple(wish.categories)
        why = signals(item, purchased, goes_with, asked_for, wish.accessories_for)
        pitch = write_pitch(item, why, lang)
        anchor = why.anchor
        return Recommendation(item, score, pitch, anchor, self._complements(item))
