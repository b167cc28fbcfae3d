"""The demo shop's customers: synthetic shoppers with tastes, plus the named shoppers of the demo stories.

A ``Shopper`` has contact details (the order backend verifies them) and a persona (the interaction generator
draws purchases from it). ``DEMO_ORDERS`` are the orders that ``data/stories.yml`` talks about (A48213 for
mia.k@gmail.com and so on), so the demo conversations find real orders in every state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from backends.catalog import CATEGORIES, Catalog

_FIRST = ("Mia", "Noah", "Emma", "Liam", "Olivia", "Lucas", "Sofia", "Ben", "Hannah", "Jonas", "Lea", "Finn",
          "Amelia", "Oscar", "Chloe", "Leo", "Ava", "Ethan", "Isla", "Mateo", "Zara", "Arjun", "Yuki", "Wei",
          "Fatima", "Omar", "Elena", "Marco", "Ines", "Tom", "Priya", "Sam", "Nora", "Felix", "Lina", "Karl")
_LAST = ("Schmidt", "Smith", "Garcia", "Kowalski", "Rossi", "Dubois", "Jensen", "Novak", "Silva", "Patel",
         "Nguyen", "Kim", "Tanaka", "Meyer", "Brown", "Wilson", "Fischer", "Moreau", "Costa", "Larsen", "Weber",
         "Hughes", "Khan", "Okafor", "Yilmaz", "Andersen", "Becker", "Lopez", "Martin", "Chen")
_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "web.de", "icloud.com", "posteo.de", "gmx.net", "proton.me")
_STREETS = ("Rose Lane", "High Street", "Hauptstrasse", "Station Road", "Mill Lane", "Bahnhofstrasse", "Park Avenue",
            "Church Street", "Lindenweg", "King's Road", "Canal Street", "Schillerstrasse")
_CITIES = (("London", "E1 6AN"), ("Manchester", "M1 2AB"), ("Berlin", "10115"), ("Hamburg", "20095"),
           ("Munich", "80331"), ("Leeds", "LS1 4DY"), ("Cologne", "50667"), ("Bristol", "BS1 5TR"))
_ANCHORS = tuple(name for name, spec in CATEGORIES.items() if spec.anchor)
_UK_CITIES = frozenset({"London", "Manchester", "Leeds", "Bristol"})
AGE_BANDS = ("18-29", "30-49", "50+")
GROUP_ATTRIBUTES = ("age_band", "region", "spend_tier")


def shopper_groups(number: int, seed: int, city: str, budget: float) -> dict[str, str]:
    """Group attributes of synthetic shopper ``number``: a separate RNG, so tastes and logs do not change.

    ``age_band`` is drawn independently of tastes, ``region`` follows the city, and ``spend_tier`` the budget.
    """
    rng = random.Random(f"groups-{seed}-{number}")
    return {"age_band": rng.choices(AGE_BANDS, weights=(0.35, 0.45, 0.2))[0],
            "region": "UK" if city in _UK_CITIES else "DE",
            "spend_tier": "premium" if budget >= 0.5 else "value"}


@dataclass(frozen=True)
class Shopper:
    """A customer of the demo shop.

    :param interests: anchor category -> weight (what shopping missions this shopper starts)
    :param brand_affinity: brands this shopper prefers (drawn 5x more often)
    :param budget: 0 (bargain hunter) .. 1 (premium buyer)
    :param groups: attribute -> group for fairness audits (``age_band``, ``region``, ``spend_tier``)
    """

    user_id: str
    name: str
    email: str
    phone: str
    address: str
    interests: dict[str, float] = field(default_factory=dict)
    brand_affinity: tuple[str, ...] = ()
    budget: float = 0.5
    groups: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoOrder:
    """An order the demo stories refer to, in a fixed state.

    :param item_titles: catalog titles (``Item.title``) of the ordered items
    :param status: one of ``backends.constants.ORDER_STATUSES``
    :param age_days: how long ago it was placed
    :param delayed: for shipped orders: the carrier reports a delay
    :param refund: for returned orders: "processing" or "completed"
    """

    order_id: str
    email: str
    item_titles: tuple[str, ...]
    status: str
    age_days: float
    delayed: bool = False
    refund: str = ""


DEMO_SHOPPERS: tuple[Shopper, ...] = (
    Shopper("demo-mia", "Mia Kowalski", "mia.k@gmail.com", "+44 7700 900123", "18 Rose Lane, London E1 6AN",
            {"phone": 1.0, "earbuds": 0.5}, ("Samsung",), 0.7),
    Shopper("demo-jane", "Jane Doe", "jane.doe@example.com", "+1 415 555 0134", "221 Park Avenue, Leeds LS1 4DY",
            {"running shoes": 1.0, "sports watch": 0.6}, ("Nike", "Garmin"), 0.6),
    Shopper("demo-tom", "Tom Becker", "tom.b@outlook.com", "+49 151 23456789", "Hauptstrasse 5, 10115 Berlin",
            {"headphones": 1.0}, ("Sony",), 0.8),
    Shopper("demo-lena", "Lena Meyer", "lena.m@posteo.de", "+49 160 9876543", "Lindenweg 3, 20095 Hamburg",
            {"phone": 1.0}, ("Apple",), 0.8),
    Shopper("demo-raj", "Raj Patel", "raj.patel@yahoo.com", "+44 7700 900456", "7 Mill Lane, Bristol BS1 5TR",
            {"running shoes": 1.0}, ("Adidas",), 0.6),
    Shopper("demo-sam", "Sam Lee", "sam_lee88@gmail.com", "+44 7700 900789", "40 Canal Street, Manchester M1 2AB",
            {"camera": 1.0}, ("Peak Design", "Sony"), 0.7),
    Shopper("demo-chloe", "Chloe Wilson", "chloe_w@icloud.com", "+44 7700 900321", "12 King's Road, London SW3 4UT",
            {"laptop": 1.0}, ("Apple",), 0.9),
    Shopper("demo-katrin", "Katrin Weber", "k.weber@web.de", "+49 171 5550101", "Schillerstrasse 9, 80331 Munich",
            {"phone": 0.6, "camera": 0.4}, ("Google", "Canon"), 0.6),
    Shopper("demo-mike", "Mike Hughes", "mike@shop-test.org", "+1 212 555 0199", "3 Station Road, Leeds LS1 4DY",
            {"phone": 1.0}, ("Anker",), 0.4),
    Shopper("demo-janex", "Jane Xu", "jane@x.com", "+49 152 1112223", "Bahnhofstrasse 1, 50667 Cologne",
            {"running shoes": 1.0}, ("Hoka",), 0.5),
    Shopper("demo-alex", "Alex Martin", "alex@example.com", "+44 7700 900999", "2 Church Street, London E1 6AN",
            {"laptop": 1.0}, ("Lenovo",), 0.6),
)

DEMO_ORDERS: tuple[DemoOrder, ...] = (
    DemoOrder("A48213", "mia.k@gmail.com", ("Samsung Galaxy S24",), "shipped", 2.0),
    DemoOrder("A77120", "jane.doe@example.com", ("Nike Pegasus 40", "Nike Spark Lightweight running socks"),
              "delivered", 12.0),
    DemoOrder("A66001", "tom.b@outlook.com", ("Sony WH-1000XM5",), "paid", 0.3),
    DemoOrder("A30925", "lena.m@posteo.de", ("Apple iPhone 15",), "placed", 0.05),
    DemoOrder("A40404", "raj.patel@yahoo.com", ("Adidas Ultraboost Light",), "delivered", 6.0),
    DemoOrder("A88765", "sam_lee88@gmail.com", ("Peak Design Everyday Sling 6L",), "delivered", 9.0),
    DemoOrder("A40112", "chloe_w@icloud.com", ("Apple MacBook Air 13 M3",), "paid", 0.5),
    DemoOrder("A39481", "jane.doe@example.com", ("Garmin Forerunner 265",), "returned", 25.0, refund="processing"),
    DemoOrder("A55902", "k.weber@web.de", ("Google Pixel 8",), "shipped", 1.5),
    DemoOrder("A11223", "k.weber@web.de", ("Canon EOS R50",), "shipped", 9.0, delayed=True),
    DemoOrder("A71234", "mike@shop-test.org", ("Anker 737 Power Bank 24000",), "paid", 0.2),
    DemoOrder("A31337", "jane@x.com", ("Hoka Clifton 9",), "placed", 0.1),
    DemoOrder("A90017", "chloe_w@icloud.com", ("Apple Magic Mouse",), "returned", 50.0, refund="completed"),
    DemoOrder("A12345", "alex@example.com", ("Lenovo ThinkPad X1 Carbon", "Logitech MX Master 3S"), "delivered",
              45.0),
)

DEMO_ORDER_IDS = frozenset(order.order_id for order in DEMO_ORDERS)


def generate_shoppers(n_shoppers: int, seed: int = 42, catalog: Catalog | None = None) -> list[Shopper]:
    """``n_shoppers`` synthetic shoppers (ids ``u00000``...), deterministic for ``seed``.

    :param catalog: brands for brand affinities are drawn from it (default: the anchor brands below)
    """
    rng = random.Random(seed * 7919 + 1)
    brands = sorted({item.brand for item in catalog}) if catalog is not None else ["Apple", "Samsung", "Nike"]
    shoppers = []
    for number in range(n_shoppers):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first.lower()}.{last.lower()}{number}@{rng.choice(_DOMAINS)}"
        phone = f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
        city, postcode = rng.choice(_CITIES)
        address = f"{rng.randint(1, 199)} {rng.choice(_STREETS)}, {postcode} {city}"
        chosen = rng.sample(_ANCHORS, rng.choice((1, 1, 2, 2, 3)))
        interests = {category: round(rng.uniform(0.3, 1.0), 3) for category in chosen}
        affinity = tuple(rng.sample(brands, 2))
        budget = round(rng.random(), 3)
        shoppers.append(Shopper(f"u{number:05d}", f"{first} {last}", email, phone, address, interests, affinity,
                                budget, shopper_groups(number, seed, city, budget)))
    return shoppers


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def normalize_phone(phone: str | None) -> str:
    """Digits only, compared on the last 10 so "+44 7700 900123" matches "07700 900123"."""
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    return digits[-10:]
