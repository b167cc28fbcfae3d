"""One catalog: every product the demo page shows is one the shop sells, at the catalog's price, and its
"Ask about it" button asks the product service about exactly that product, which answers with its name."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from backends.catalog import generate_catalog
from backends.constants import DEFAULT_SEED
from backends.recommend.service import Recommender

PAGE = Path(__file__).resolve().parents[2] / "bot" / "static" / "index.html"


class _Products(HTMLParser):
    """The page's product cards: title (h3), price, pitch and the button's payload."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str]] = []
        self._field: str | None = None
        self._in_card = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "li" and attributes.get("class") == "product":
            self.cards.append({})
            self._in_card = True
        elif not self._in_card:
            return
        elif tag == "h3":
            self._field = "title"
        elif tag == "p" and attributes.get("class") in ("price", "pitch"):
            self._field = attributes["class"]
        elif tag == "button" and attributes.get("data-kefu-send"):
            self.cards[-1]["payload"] = attributes["data-kefu-send"] or ""

    def handle_data(self, data: str) -> None:
        if self._field and self.cards:
            self.cards[-1][self._field] = self.cards[-1].get(self._field, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._field = None
        if tag == "li":
            self._in_card = False


def page_products() -> list[dict[str, str]]:
    parser = _Products()
    parser.feed(PAGE.read_text(encoding="utf-8"))
    return parser.cards


def test_the_page_shows_products_from_the_catalog_at_its_prices() -> None:
    catalog = {item.title: item for item in generate_catalog(DEFAULT_SEED)}
    cards = page_products()
    assert len(cards) >= 4
    for card in cards:
        item = catalog.get(card["title"])
        assert item is not None, f"{card['title']!r} is on the demo page but not in the catalog"
        assert card["price"] == f"${item.price:,.2f}", card
        assert card["pitch"].rstrip(".").lower() == item.features.lower(), card
        intent, _, entities = card["payload"].partition("{")
        assert intent == "/product_question" and json.loads("{" + entities) == {"product": item.title}, card


@pytest.fixture(scope="module")
def recommender(reco_model_dir: Path) -> Recommender:
    return Recommender.load(reco_model_dir, index="exact")


def test_every_product_button_finds_that_product(recommender: Recommender) -> None:
    for card in page_products():
        product = json.loads(card["payload"][card["payload"].index("{"):])["product"]
        found = recommender.search(product, k=1)
        assert found and found[0].title == card["title"], (product, [item.title for item in found])
        assert re.search(r"\$\d", card["price"])
