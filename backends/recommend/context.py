"""What a free-text request context ("black Nike running shoes", "a case") asks for, matched to catalog items.

``parse_context`` finds categories (by name or synonym, longest phrase first), brands, colors and a named
product in the text. ``Context.match(item)`` is 1.0 for an item that satisfies everything asked and shrinks
for each unmet wish, so rankers can multiply (cold start) or add its log (warm users).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backends.catalog import CATEGORIES, COLORS, Catalog, Item, search_items

_CATEGORY_MISS = 0.02
_BRAND_MISS = 0.15
_COLOR_MISS = 0.5


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(text.lower()) + r"s?(?![a-z0-9])")


_CATEGORY_PHRASES = sorted(
    ((phrase, spec.name) for spec in CATEGORIES.values() for phrase in (spec.name, *spec.synonyms)),
    key=lambda pair: -len(pair[0]),
)


@dataclass(frozen=True)
class Context:
    """The parsed wishes of one request; empty when the text names nothing the catalog knows."""

    text: str = ""
    categories: frozenset[str] = field(default_factory=frozenset)
    brands: frozenset[str] = field(default_factory=frozenset)
    colors: frozenset[str] = field(default_factory=frozenset)
    product: Item | None = None

    @property
    def empty(self) -> bool:
        return not (self.categories or self.brands or self.colors or self.product)

    def match(self, item: Item) -> float:
        score = 1.0
        if self.product is not None and not self.categories:
            return 1.0 if item.item_id == self.product.item_id else (0.3 if item.category == self.product.category
                                                                    else _CATEGORY_MISS)
        if self.categories and item.category not in self.categories:
            score *= _CATEGORY_MISS
        if self.brands and item.brand not in self.brands:
            score *= _BRAND_MISS
        if self.colors and not self.colors & set(item.colors):
            score *= _COLOR_MISS
        return score

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "categories": sorted(self.categories), "brands": sorted(self.brands),
                "colors": sorted(self.colors), "product": self.product.item_id if self.product else None}


def parse_context(text: str | None, catalog: Catalog) -> Context:
    """Categories, brands, colors and a named product mentioned in ``text``."""
    text = (text or "").strip()
    if not text:
        return Context()
    lowered = f" {text.lower()} "
    categories: set[str] = set()
    consumed = lowered
    for phrase, category in _CATEGORY_PHRASES:
        pattern = _phrase(phrase)
        if pattern.search(consumed):
            categories.add(category)
            consumed = pattern.sub(" ", consumed)
    # "a case for my phone", "socks for my running shoes": the accessory is wanted, the anchor is only named.
    accessories = {c for c in categories if any(c in CATEGORIES[a].complements for a in categories)}
    if accessories:
        categories -= {a for a in categories if set(CATEGORIES[a].complements) & accessories}
    brands = {brand for brand in catalog.brands if _phrase(brand).search(lowered)}
    colors = {color for color in COLORS if _phrase(color).search(lowered)}
    product = None
    if not categories:
        ranked = search_items(catalog.items, text, limit=1)
        brand_only = ranked and {w.lower() for w in ranked[0].title.split()} <= {b.lower() for b in brands}
        if ranked and not brand_only and _names_model(ranked[0], lowered):
            product = ranked[0]
    return Context(text, frozenset(categories), frozenset(brands), frozenset(colors), product)


def _names_model(item: Item, lowered: str) -> bool:
    """True when the text contains the item's model name beyond its brand ("pegasus 40", not just "nike")."""
    model_words = [w for w in re.findall(r"[a-z0-9]+", item.name.lower()) if w not in item.brand.lower().split()]
    return bool(model_words) and all(_phrase(w).search(lowered) for w in model_words[:2])
