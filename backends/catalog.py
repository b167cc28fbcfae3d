"""The demo shop's catalog: categories, brands, prices and which accessories go with what.

The catalog is synthetic but has the structure of a real electronics-and-sports shop: a phone has cases and
screen protectors made for that exact model, chargers that fit its connector, power banks and earbuds; running
shoes go with running socks, a sports watch and a running belt; a laptop with a sleeve, a mouse and a USB-C hub;
a camera with a memory card, a tripod and a bag. ``generate_catalog(seed)`` is deterministic: the same seed
gives the same items, ids and prices, so the order backend, the recommender and the simulator agree.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CategorySpec:
    """One product category.

    :param name: the category as shoppers say it ("running shoes")
    :param group: department ("electronics", "sports", "photo")
    :param return_days: return window after delivery
    :param complements: categories bought together with this one, most likely first
    :param anchor: a category a shopping mission starts with (phones, laptops...), not an accessory
    :param synonyms: other words shoppers use for it
    """

    name: str
    group: str
    return_days: int = 30
    complements: tuple[str, ...] = ()
    anchor: bool = False
    synonyms: tuple[str, ...] = ()


CATEGORIES: dict[str, CategorySpec] = {
    spec.name: spec
    for spec in (
        CategorySpec("phone", "electronics", 14, ("phone case", "screen protector", "charger", "power bank", "earbuds"),
                     True, ("smartphone", "mobile", "cell phone", "handy")),
        CategorySpec("phone case", "accessories", 30, (), False, ("case", "cover", "phone cover")),
        CategorySpec("screen protector", "accessories", 30, (), False, ("tempered glass", "screen guard")),
        CategorySpec("charger", "accessories", 30, (), False, ("charging adapter", "power adapter", "plug")),
        CategorySpec("power bank", "accessories", 30, (), False, ("portable charger", "battery pack")),
        CategorySpec("earbuds", "audio", 14, ("charger",), True, ("wireless earbuds", "in-ear headphones")),
        CategorySpec("headphones", "audio", 14, ("power bank",), True, ("over-ear headphones", "headset")),
        CategorySpec("laptop", "electronics", 14, ("laptop sleeve", "mouse", "usb-c hub", "headphones"), True,
                     ("notebook", "macbook", "computer")),
        CategorySpec("laptop sleeve", "accessories", 30, (), False, ("laptop bag", "laptop case")),
        CategorySpec("mouse", "accessories", 30, (), False, ("computer mouse", "wireless mouse")),
        CategorySpec("usb-c hub", "accessories", 30, (), False, ("hub", "dock", "adapter")),
        CategorySpec("running shoes", "sports", 30, ("running socks", "sports watch", "running belt"), True,
                     ("trainers", "sneakers", "running shoe", "shoes")),
        CategorySpec("running socks", "sports", 30, (), False, ("socks",)),
        CategorySpec("sports watch", "sports", 14, ("running belt",), True, ("gps watch", "running watch", "smartwatch")),
        CategorySpec("running belt", "sports", 30, (), False, ("hydration belt", "running pouch")),
        CategorySpec("camera", "photo", 14, ("memory card", "tripod", "camera bag"), True,
                     ("mirrorless camera", "dslr")),
        CategorySpec("memory card", "photo", 30, (), False, ("sd card", "microsd")),
        CategorySpec("tripod", "photo", 30, (), False, ("stand",)),
        CategorySpec("camera bag", "photo", 30, (), False, ("sling", "camera backpack")),
    )
}

# Model-specific accessories: an item of these categories fits only the phones named in ``compatible_with``.
MODEL_SPECIFIC = ("phone case", "screen protector")

COLORS = ("black", "white", "blue", "green", "red", "silver", "grey", "pink", "purple", "yellow")
SHOE_SIZES = tuple(str(size) for size in range(37, 47))

# (brand, model, price, connector, features): the phones every phone accessory is built around.
_PHONES: tuple[tuple[str, str, float, str, str], ...] = (
    ("Samsung", "Galaxy S24", 799, "usb-c", "6.2-inch AMOLED screen, 128 GB, triple camera"),
    ("Samsung", "Galaxy S24 Ultra", 1299, "usb-c", "6.8-inch screen, built-in S Pen, 200 MP camera"),
    ("Samsung", "Galaxy A55", 449, "usb-c", "6.6-inch screen, two-day battery, IP67"),
    ("Apple", "iPhone 15", 799, "usb-c", "6.1-inch screen, Dynamic Island, 48 MP camera"),
    ("Apple", "iPhone 15 Pro", 999, "usb-c", "titanium frame, A17 Pro chip, 3x telephoto"),
    ("Apple", "iPhone 14", 699, "lightning", "6.1-inch screen, A15 chip, crash detection"),
    ("Google", "Pixel 8", 699, "usb-c", "Tensor G3 chip, Magic Eraser, 7 years of updates"),
    ("Google", "Pixel 8a", 499, "usb-c", "compact 6.1-inch screen, Tensor G3, great night photos"),
    ("Xiaomi", "Redmi Note 13", 299, "usb-c", "6.67-inch 120 Hz screen, 5000 mAh battery"),
    ("OnePlus", "OnePlus 12", 799, "usb-c", "80 W fast charging, Hasselblad camera"),
    ("Nothing", "Phone (2)", 599, "usb-c", "Glyph light interface, clean Android"),
    ("Motorola", "Edge 40", 499, "usb-c", "curved 144 Hz screen, 68 W charging"),
    ("Samsung", "Galaxy Z Flip5", 999, "usb-c", "foldable, 3.4-inch cover screen"),
    ("Samsung", "Galaxy S23 FE", 599, "usb-c", "flagship camera at a friendlier price"),
    ("Apple", "iPhone 15 Plus", 899, "usb-c", "6.7-inch screen, all-day battery"),
    ("Apple", "iPhone 13", 599, "lightning", "A15 chip, dual camera, compact"),
    ("Google", "Pixel 8 Pro", 999, "usb-c", "pro triple camera, temperature sensor"),
    ("Xiaomi", "Xiaomi 14", 899, "usb-c", "Leica optics, compact flagship"),
    ("Fairphone", "Fairphone 5", 699, "usb-c", "repairable, ethically sourced, 8 years of updates"),
    ("Sony", "Xperia 10 V", 449, "usb-c", "light 159 g body, 5000 mAh"),
)

_CASES = (
    ("Spigen", "Ultra Hybrid clear case", 19.99, "slim, crystal-clear, drop-tested"),
    ("OtterBox", "Defender case", 49.99, "rugged three-layer protection with a belt clip"),
    ("Casetify", "Impact case", 39.99, "custom prints, 2 m drop protection"),
    ("Mous", "Limitless 5.0 case", 59.99, "AiroShock protection, real walnut or leather back"),
)
_PROTECTORS = (
    ("ESR", "tempered-glass screen protector (2-pack)", 14.99, "9H hardness, easy-install frame"),
    ("Belkin", "UltraGlass screen protector", 29.99, "twice as strong as standard glass, antimicrobial"),
)

# (category, brand, name, price, features, compatibility) where compatibility is a rule over phones:
# "all", "usb-c", "lightning", "apple" (MagSafe), or a brand name for brand-tied accessories.
_ACCESSORIES: tuple[tuple[str, str, str, float, str, str], ...] = (
    ("charger", "Anker", "Nano 20W USB-C charger", 19.99, "pocket-sized fast charger", "all"),
    ("charger", "Anker", "735 65W GaN charger", 49.99, "three ports: charges a phone and a laptop at once", "all"),
    ("charger", "Apple", "20W USB-C power adapter", 19.00, "Apple's own fast charger", "apple"),
    ("charger", "Samsung", "45W Super Fast charger", 39.99, "Super Fast Charging 2.0 for Galaxy phones", "Samsung"),
    ("charger", "Belkin", "BoostCharge MagSafe wireless charger", 59.99, "snaps on magnetically, 15 W", "apple"),
    ("charger", "Ugreen", "Nexode 100W desktop charger", 69.99, "four ports for every device on the desk", "all"),
    ("charger", "Apple", "USB-C to Lightning cable", 19.00, "1 m braided cable for Lightning iPhones", "lightning"),
    ("charger", "Google", "30W USB-C charger", 25.00, "fast charging made for Pixel", "Google"),
    ("power bank", "Anker", "PowerCore 10000", 25.99, "fits in a pocket, two full phone charges", "all"),
    ("power bank", "Anker", "737 Power Bank 24000", 109.99, "140 W output, charges laptops too", "all"),
    ("power bank", "Xiaomi", "Power Bank 20000 mAh", 34.99, "18 W fast charging, dual USB", "all"),
    ("power bank", "Belkin", "BoostCharge magnetic power bank", 49.99, "clips onto MagSafe iPhones", "apple"),
    ("power bank", "Baseus", "Blade 20000 mAh", 59.99, "thin as a notebook, 100 W", "all"),
    ("earbuds", "Apple", "AirPods Pro 2", 249.00, "active noise cancelling, USB-C case", "apple"),
    ("earbuds", "Apple", "AirPods 3", 169.00, "spatial audio, sweat resistant", "apple"),
    ("earbuds", "Samsung", "Galaxy Buds2 Pro", 229.99, "24-bit Hi-Fi sound, ANC", "Samsung"),
    ("earbuds", "Google", "Pixel Buds Pro", 199.00, "ANC, hands-free Google Assistant", "Google"),
    ("earbuds", "Sony", "WF-1000XM5", 299.99, "best-in-class noise cancelling", "all"),
    ("earbuds", "Jabra", "Elite 8 Active", 199.99, "military-grade durability for sports", "all"),
    ("earbuds", "Nothing", "Ear (2)", 149.00, "transparent design, LHDC sound", "all"),
)

# (category, brand, name, price, features) for everything that fits everything.
_STANDALONE: tuple[tuple[str, str, str, float, str], ...] = (
    ("headphones", "Sony", "WH-1000XM5", 399.99, "industry-leading noise cancelling, 30 h battery"),
    ("headphones", "Bose", "QuietComfort Ultra", 429.00, "immersive audio, plush comfort"),
    ("headphones", "Sennheiser", "Momentum 4", 349.95, "60 h battery, audiophile sound"),
    ("headphones", "Apple", "AirPods Max", 549.00, "computational audio, aluminium build"),
    ("headphones", "JBL", "Tune 770NC", 129.95, "adaptive noise cancelling on a budget"),
    ("headphones", "Beats", "Studio Pro", 349.99, "personalised spatial audio, USB-C lossless"),
    ("headphones", "Sony", "WH-CH720N", 149.99, "light noise-cancelling everyday headphones"),
    ("laptop", "Apple", "MacBook Air 13 M3", 1099.00, "18 h battery, fanless, 1.24 kg"),
    ("laptop", "Apple", "MacBook Pro 14 M3", 1599.00, "Liquid Retina XDR, pro performance"),
    ("laptop", "Dell", "XPS 13", 999.00, "InfinityEdge display, premium aluminium"),
    ("laptop", "Lenovo", "ThinkPad X1 Carbon", 1399.00, "legendary keyboard, 1.12 kg"),
    ("laptop", "HP", "Spectre x360 14", 1249.00, "2-in-1 OLED touch screen with pen"),
    ("laptop", "Asus", "Zenbook 14 OLED", 899.00, "OLED screen, all-day battery"),
    ("laptop", "Acer", "Swift Go 14", 699.00, "light, fast and affordable"),
    ("laptop", "Microsoft", "Surface Laptop 5", 999.00, "Alcantara keyboard, PixelSense touch screen"),
    ("laptop", "Lenovo", "IdeaPad Slim 5", 649.00, "solid all-rounder for study and work"),
    ("laptop", "Dell", "Inspiron 14", 599.00, "dependable everyday laptop"),
    ("laptop sleeve", "Incase", "Compact Sleeve 14", 49.95, "shock-absorbing, water resistant"),
    ("laptop sleeve", "tomtoc", "360 Protective Sleeve", 29.99, "corner armour, fits 13-14 inch laptops"),
    ("laptop sleeve", "Moshi", "Codex carry case", 69.95, "slim briefcase with organiser pocket"),
    ("laptop sleeve", "Peak Design", "Tech Sleeve", 59.95, "weatherproof, padded"),
    ("mouse", "Logitech", "MX Master 3S", 99.99, "quiet clicks, 8K DPI, USB-C"),
    ("mouse", "Logitech", "MX Anywhere 3S", 79.99, "works on glass, pocket size"),
    ("mouse", "Apple", "Magic Mouse", 79.00, "multi-touch surface"),
    ("mouse", "Logitech", "Pebble Mouse 2", 24.99, "silent, slim, Bluetooth"),
    ("usb-c hub", "Anker", "7-in-1 USB-C hub", 35.99, "HDMI 4K, SD card, 100 W pass-through"),
    ("usb-c hub", "Satechi", "Multiport adapter V2", 79.99, "aluminium, 4K HDMI, Ethernet"),
    ("usb-c hub", "Ugreen", "Revodok 6-in-1", 29.99, "compact travel hub"),
    ("running shoes", "Nike", "Pegasus 40", 129.99, "responsive React foam, everyday trainer"),
    ("running shoes", "Nike", "Vomero 17", 159.99, "max cushioning for long runs"),
    ("running shoes", "Adidas", "Ultraboost Light", 189.99, "lightest Boost ever, energy return"),
    ("running shoes", "Adidas", "Adizero SL", 119.99, "fast and light for tempo runs"),
    ("running shoes", "Asics", "Gel-Nimbus 26", 159.99, "plush cushioning, smooth ride"),
    ("running shoes", "Asics", "Novablast 4", 139.99, "bouncy trampoline-like midsole"),
    ("running shoes", "Brooks", "Ghost 16", 139.99, "soft and smooth, great for beginners"),
    ("running shoes", "Hoka", "Clifton 9", 144.99, "lightweight max-cushion"),
    ("running shoes", "Hoka", "Bondi 8", 164.99, "the most cushioned Hoka"),
    ("running shoes", "New Balance", "Fresh Foam X 1080v13", 164.99, "plush, wide toe box"),
    ("running shoes", "Saucony", "Ride 17", 139.99, "versatile daily trainer"),
    ("running shoes", "On", "Cloudmonster", 169.99, "CloudTec pods, big bounce"),
    ("running shoes", "On", "Cloudsurfer", 159.99, "soft landings, smooth transitions"),
    ("running shoes", "Nike", "Invincible 3", 179.99, "ZoomX foam for recovery runs"),
    ("running shoes", "Adidas", "Supernova Rise", 139.99, "Dreamstrike+ comfort"),
    ("running shoes", "Brooks", "Glycerin 21", 159.99, "nitrogen-infused cushioning"),
    ("running shoes", "Saucony", "Endorphin Speed 4", 169.99, "nylon plate for race pace"),
    ("running shoes", "New Balance", "FuelCell Rebel v4", 139.99, "light and playful tempo shoe"),
    ("running socks", "Nike", "Spark Lightweight running socks", 16.00, "Dri-FIT, cushioned heel"),
    ("running socks", "Balega", "Hidden Comfort socks", 17.99, "mohair blend, blister-free"),
    ("running socks", "Asics", "Quick Lyte socks (3-pack)", 14.99, "breathable mesh"),
    ("running socks", "Feetures", "Elite Light Cushion socks", 17.99, "targeted compression"),
    ("running socks", "Stance", "Run Light tab socks", 18.00, "anatomical fit, Infiknit"),
    ("sports watch", "Garmin", "Forerunner 265", 449.99, "AMOLED, training readiness, GPS"),
    ("sports watch", "Garmin", "Forerunner 55", 199.99, "simple GPS watch with suggested workouts"),
    ("sports watch", "Polar", "Pacer Pro", 299.95, "running power from the wrist"),
    ("sports watch", "Coros", "Pace 3", 229.00, "24-day battery, 30 g"),
    ("sports watch", "Suunto", "Race", 449.00, "stainless steel, offline maps"),
    ("sports watch", "Garmin", "Fenix 7", 699.99, "multisport, solar charging, maps"),
    ("sports watch", "Polar", "Vantage V3", 599.95, "dual-frequency GPS, ECG"),
    ("sports watch", "Coros", "Apex 2", 299.00, "sapphire glass, 30-day battery"),
    ("running belt", "FlipBelt", "Classic running belt", 34.99, "no-bounce tube for phone and keys"),
    ("running belt", "Salomon", "Pulse belt", 39.99, "soft flask holder, reflective"),
    ("running belt", "Nathan", "Hydration belt", 29.99, "two bottles, easy-reach pocket"),
    ("camera", "Sony", "Alpha a6400", 899.99, "fast autofocus, 4K video"),
    ("camera", "Canon", "EOS R50", 679.99, "compact, beginner-friendly, vlog-ready"),
    ("camera", "Fujifilm", "X-T30 II", 899.00, "film simulations, retro dials"),
    ("camera", "Nikon", "Z50", 859.95, "weather-sealed APS-C mirrorless"),
    ("camera", "Sony", "ZV-E10", 699.99, "vlogging camera with flip screen"),
    ("camera", "Canon", "EOS R10", 979.00, "fast burst, subject tracking"),
    ("camera", "Panasonic", "Lumix G9 II", 1899.00, "phase-detect AF, 5.8K video"),
    ("memory card", "SanDisk", "Extreme PRO 128 GB SD card", 29.99, "200 MB/s, 4K-ready"),
    ("memory card", "Samsung", "PRO Plus 256 GB SD card", 39.99, "180 MB/s, waterproof"),
    ("memory card", "Lexar", "Professional 1667x 128 GB", 34.99, "UHS-II speed"),
    ("memory card", "Kingston", "Canvas React Plus 64 GB", 24.99, "V90 for 8K video"),
    ("tripod", "Manfrotto", "PIXI mini tripod", 29.99, "tabletop, pocketable"),
    ("tripod", "Joby", "GorillaPod 3K", 59.95, "flexible legs wrap around anything"),
    ("tripod", "Peak Design", "Travel Tripod", 379.95, "packs down to a water-bottle size"),
    ("camera bag", "Peak Design", "Everyday Sling 6L", 99.95, "quick access, weatherproof"),
    ("camera bag", "Lowepro", "ProTactic BP 350", 179.95, "modular backpack for two bodies"),
    ("camera bag", "Wandrd", "PRVKE 21", 219.00, "roll-top travel backpack with camera cube"),
)

_SIZED = {"running shoes": SHOE_SIZES, "running socks": ("S", "M", "L", "XL")}


@dataclass(frozen=True)
class Item:
    """One product in the catalog.

    :param item_id: stable id ("p0042")
    :param sku: stock-keeping unit shown to shoppers
    :param compatible_with: item ids of the phones a model-specific accessory fits ("" = fits everything)
    :param popularity: prior weight used by the synthetic shoppers (not known to the recommender)
    """

    item_id: str
    sku: str
    name: str
    brand: str
    category: str
    price: float
    features: str
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    compatible_with: tuple[str, ...] = ()
    in_stock: int = 0
    popularity: float = 1.0
    connector: str = ""

    @property
    def title(self) -> str:
        """The name a shopper reads: brand + model, without repeating the brand."""
        return self.name if self.name.lower().startswith(self.brand.lower()) else f"{self.brand} {self.name}"

    @property
    def text(self) -> str:
        """The item's description, embedded by the item tower's text encoder."""
        parts = [f"{self.title} ({self.category}). {self.features}."]
        if self.colors:
            parts.append(f"Colors: {', '.join(self.colors)}.")
        if self.sizes:
            parts.append(f"Sizes {self.sizes[0]} to {self.sizes[-1]}.")
        parts.append(f"Price ${self.price:.2f}.")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["title"] = self.title
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("colors", "sizes", "compatible_with"):
            fields[key] = tuple(fields.get(key, ()))
        return cls(**fields)


@dataclass
class Catalog:
    """The shop's items with lookups by id, category and name."""

    items: list[Item]
    _by_id: dict[str, Item] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {item.item_id: item for item in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, item_id: str) -> Item:
        return self._by_id[item_id]

    def get(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def index_of(self, item_id: str) -> int:
        return self.items.index(self._by_id[item_id])

    def in_category(self, category: str) -> list[Item]:
        return [item for item in self.items if item.category == category]

    @property
    def categories(self) -> list[str]:
        return sorted({item.category for item in self.items})

    @property
    def brands(self) -> list[str]:
        return sorted({item.brand for item in self.items})

    def find(self, text: str) -> Item | None:
        """The item whose title best matches free text ("pegasus 40", "galaxy s24 ultra"), or None."""
        ranked = search_items(self.items, text, limit=1)
        return ranked[0] if ranked else None

    def complements_of(self, item: Item) -> list[Item]:
        """Items that go with ``item``: its complement categories, and only those that fit it."""
        wanted = CATEGORIES[item.category].complements
        return [other for other in self.items if other.category in wanted and fits(other, item)]

    def is_complement(self, candidate: Item, anchor: Item) -> bool:
        """True when ``candidate`` belongs to a complement category of ``anchor`` and fits it."""
        return candidate.category in CATEGORIES[anchor.category].complements and fits(candidate, anchor)

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self.items]

    @classmethod
    def from_json(cls, rows: Iterable[dict[str, Any]]) -> Catalog:
        return cls([Item.from_json(row) for row in rows])


def fits(accessory: Item, anchor: Item) -> bool:
    """Whether ``accessory`` works with ``anchor`` (a case made for another phone does not)."""
    if not accessory.compatible_with:
        return True
    if anchor.category != "phone":
        return True
    return anchor.item_id in accessory.compatible_with


_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def search_items(items: Sequence[Item], text: str, limit: int = 5) -> list[Item]:
    """Items ranked by word overlap with ``text`` (title words count most); no match gives ``[]``."""
    query = set(tokens(text))
    if not query:
        return []
    scored: list[tuple[float, int, Item]] = []
    for position, item in enumerate(items):
        title = set(tokens(item.title))
        rest = set(tokens(f"{item.category} {item.features}"))
        hits = len(query & title)
        if not hits:
            continue
        score = hits / len(title | query) * 2 + len(query & rest) * 0.1
        scored.append((score, -position, item))
    scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [item for _, _, item in scored[:limit]]


def _compatible_phones(rule: str, phones: Sequence[Item]) -> tuple[str, ...]:
    if rule == "all":
        return ()
    if rule == "usb-c":
        chosen = [p for p in phones if p.connector == "usb-c"]
    elif rule == "lightning":
        chosen = [p for p in phones if p.connector == "lightning"]
    elif rule == "apple":
        chosen = [p for p in phones if p.brand == "Apple"]
    else:
        chosen = [p for p in phones if p.brand == rule]
    return tuple(p.item_id for p in chosen)


def generate_catalog(seed: int = 42) -> Catalog:
    """Build the demo shop's catalog (about 240 items); deterministic for a given ``seed``.

    :param seed: seeds colors, stock levels and the popularity prior
    """
    rng = random.Random(seed)
    items: list[Item] = []

    def add(category: str, brand: str, name: str, price: float, features: str, **extra: Any) -> Item:
        number = len(items) + 1
        colors = extra.pop("colors", None)
        if colors is None:
            colors = tuple(sorted(rng.sample(COLORS, rng.randint(1, 4)), key=COLORS.index))
        item = Item(
            item_id=f"p{number:04d}",
            sku=f"{brand[:3].upper()}-{number:04d}",
            name=name,
            brand=brand,
            category=category,
            price=round(float(price), 2),
            features=features,
            colors=colors,
            sizes=_SIZED.get(category, ()),
            in_stock=rng.choice((0, 3, 12, 40, 150)) if rng.random() < 0.95 else 0,
            popularity=round(rng.lognormvariate(0.0, 0.8), 3),
            **extra,
        )
        items.append(item)
        return item

    phones = [add("phone", brand, model, price, features, connector=connector)
              for brand, model, price, connector, features in _PHONES]
    for phone in phones:
        short = phone.name
        for brand, kind, price, features in _CASES:
            add("phone case", brand, f"{kind} for {short}", price, features, compatible_with=(phone.item_id,))
        for brand, kind, price, features in _PROTECTORS:
            add("screen protector", brand, f"{kind} for {short}", price, features, colors=(),
                compatible_with=(phone.item_id,))
    for category, brand, name, price, features, rule in _ACCESSORIES:
        add(category, brand, name, price, features, compatible_with=_compatible_phones(rule, phones))
    for category, brand, name, price, features in _STANDALONE:
        add(category, brand, name, price, features)
    return Catalog(items)
