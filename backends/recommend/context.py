"""What a free-text request context ("black Nike running shoes", "a case") asks for, matched to catalog items.

``parse_context`` finds categories (by name or synonym, longest phrase first), brands, colors and a named
product in the text. ``Context.match(item)`` is 1.0 for an item that satisfies everything asked and shrinks
for each unmet wish, so rankers can multiply (cold start) or add its log (warm users).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from backends.catalog import CATEGORIES, COLORS, Catalog, Item, search_items

_CATEGORY_MISS = 0.02
_BRAND_MISS = 0.15
_COLOR_MISS = 0.5


def _phrase(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(text.lower()) + r"s?(?![a-z0-9])")


# "phone accessories", "what goes with my laptop", 配件 (the NLU maps it to "accessories"): the request is for what
# complements the named (or owned) anchor, never for the anchor itself.
ACCESSORY_PHRASES = ("accessories", "accessory", "add-ons", "add-on", "goes with", "go with", "extras")
ACCESSORY_CATEGORIES = frozenset(c for spec in CATEGORIES.values() for c in spec.complements)

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
    accessories: bool = False
    accessories_for: str | None = None  # the anchor category of an accessory request ("phone")

    @property
    def empty(self) -> bool:
        return not (self.categories or self.brands or self.colors or self.product or self.accessories)

    def for_owner_of(self, owned: Sequence[Item]) -> Context:
        """An accessory request that named no anchor ("what accessories do I need?") asks for what goes with the
        shopper's latest anchor purchase, or with any anchor when they have none."""
        if not self.accessories or self.categories:
            return self
        anchors = [item for item in reversed(owned) if CATEGORIES[item.category].complements]
        if not anchors:
            return replace(self, categories=ACCESSORY_CATEGORIES)
        anchor = anchors[0].category
        return replace(self, categories=frozenset(CATEGORIES[anchor].complements), accessories_for=anchor)

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
                "colors": sorted(self.colors), "product": self.product.item_id if self.product else None,
                "accessories": self.accessories}


def parse_context(text: str | None, catalog: Catalog) -> Context:
    """Categories, brands, colors and a named product mentioned in ``text``."""
    text = (text or "").strip()
    if not text:
        return Context()
    lowered = f" {text.lower()} "
    accessories = any(_phrase(phrase).search(lowered) for phrase in ACCESSORY_PHRASES)
    categories: set[str] = set()
    consumed = lowered
    for phrase, category in _CATEGORY_PHRASES:
        pattern = _phrase(phrase)
        if pattern.search(consumed):
            categories.add(category)
            consumed = pattern.sub(" ", consumed)
    # "a case for my phone", "socks for my running shoes": the accessory is wanted, the anchor is only named.
    named_accessories = {c for c in categories if any(c in CATEGORIES[a].complements for a in categories)}
    if named_accessories:
        categories -= {a for a in categories if set(CATEGORIES[a].complements) & named_accessories}
    accessories_for = None
    if not named_accessories and accessories and categories:  # "phone accessories": what goes with it, no phone
        anchors = sorted(a for a in categories if CATEGORIES[a].complements)
        accessories_for = anchors[0] if anchors else None
        categories = {c for a in categories for c in CATEGORIES[a].complements} or categories
    brands = {brand for brand in catalog.brands if _phrase(brand).search(lowered)}
    colors = {color for color in COLORS if _phrase(color).search(lowered)}
    product = None
    if not categories and not accessories:
        ranked = search_items(catalog.items, text, limit=1)
        brand_only = ranked and {w.lower() for w in ranked[0].title.split()} <= {b.lower() for b in brands}
        if ranked and not brand_only and _names_model(ranked[0], lowered):
            product = ranked[0]
    return Context(text, frozenset(categories), frozenset(brands), frozenset(colors), product, accessories,
                   accessories_for)


def _names_model(item: Item, lowered: str) -> bool:
    """True when the text contains the item's model name beyond its brand ("pegasus 40", not just "nike")."""
    model_words = [w for w in re.findall(r"[a-z0-9]+", item.name.lower()) if w not in item.brand.lower().split()]
    return bool(model_words) and all(_phrase(w).search(lowered) for w in model_words[:2])
