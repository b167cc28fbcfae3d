"""Shared support for the privacy tests: generated PII, ordinary shop messages, a tiny agent.

Imported by the ``test_*`` files of this folder (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.agent import Agent
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.nlg import TemplatedNLG

DOMAIN = Domain.from_dict({
    "intents": ["greet", "inform", "check"],
    "entities": ["email", "phone", "card", "order_id"],
    "slots": {
        "email": {"type": "text", "mappings": [{"type": "from_entity", "entity": "email"}]},
        "phone": {"type": "text", "mappings": [{"type": "from_entity", "entity": "phone"}]},
        "card": {"type": "text", "mappings": [{"type": "from_entity", "entity": "card"}]},
        "order_id": {"type": "text", "mappings": [{"type": "from_entity", "entity": "order_id"}]},
    },
    "responses": {"utter_greet": [{"text": "Hi! How can I help?"}],
                  "utter_echo": [{"text": "Noted: {email}"}]},
    "actions": ["action_check_order"],
})


@dataclass
class _Prediction:
    action_name: str
    policy_name: str = "ScriptedPolicy"
    confidence: float = 1.0
    events: list[dict[str, Any]] = field(default_factory=list)
    optional_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ScriptedPolicy:
    """After an intent, run its actions once, then listen."""

    after_intent: dict[str, list[str]] = field(default_factory=dict)
    name: str = "ScriptedPolicy"

    def predict(self, tracker: Any, domain: Domain) -> _Prediction:
        events = tracker.events
        start = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
        done = [e["name"] for e in events[start + 1:] if e.get("event") == "action"]
        plan = self.after_intent.get(tracker.latest_intent or "", [])
        return _Prediction(plan[len(done)] if len(done) < len(plan) else ACTION_LISTEN_NAME)


def privacy_agent(after_intent: dict[str, list[str]] | None = None) -> Agent:
    policy = ScriptedPolicy(after_intent or {"greet": ["utter_greet"], "inform": ["utter_echo"]})
    return Agent(domain=DOMAIN, policy=policy, nlg=TemplatedNLG(DOMAIN.responses, seed=1))


def redis_section(redis_url: str, **extra: Any) -> dict[str, Any]:
    parts = urlsplit(redis_url)
    return {"type": "redis", "url": parts.hostname, "port": parts.port or 6379,
            "db": int(parts.path.strip("/") or 0), **extra}


# -- generated personal data -----------------------------------------------------------------------

def _luhn_digit(partial: str) -> str:
    total = 0
    for index, char in enumerate(reversed(partial)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("34", 15), ("37", 15), ("6011", 16), ("4", 13)])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    digits = body + _luhn_digit(body)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain" or length != 16:
        return digits
    sep = " " if style == "space" else "-"
    return sep.join(digits[i:i + 4] for i in range(0, 16, 4))


def china_id(rng: random.Random) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    region = rng.choice(["110105", "310104", "440305", "510107", "330106"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = region + birth + f"{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21}


def iban(rng: random.Random) -> str:
    country = rng.choice(sorted(IBAN_LENGTHS))
    length = IBAN_LENGTHS[country]
    if country in ("GB", "NL"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
        bban += "".join(rng.choice("0123456789") for _ in range(length - 8))
    else:
        bban = "".join(rng.choice("0123456789") for _ in range(length - 4))
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - numeric % 97:02d}{bban}"
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4)) if rng.random() < 0.5 else compact


def email(rng: random.Random) -> str:
    first = rng.choice(["mia", "john.doe", "li.wei", "anna_k", "sam+shop", "o.connor", "zhang3"])
    domain = rng.choice(["example.com", "mail.co.uk", "shop.cn", "post.de", "qq.com", "uni.edu.au"])
    return f"{first}{rng.randint(1, 999)}@{domain}"


def phone(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731 - a tiny local helper
    return rng.choice([
        f"+44 20 {d(4)} {d(4)}", f"+1 ({rng.randint(201, 989)}) {d(3)}-{d(4)}", f"+86 13{rng.randint(0, 9)} {d(4)} {d(4)}",
        f"+8613{rng.randint(0, 9)}{d(8)}", f"0049 30 {d(7)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        f"+49-170-{d(7)}", f"({rng.randint(201, 989)}) {d(3)}-{d(4)}", f"13{rng.randint(0, 9)}{d(8)}",
        f"+61 4{d(2)} {d(3)} {d(3)}", f"+81 90-{d(4)}-{d(4)}",
    ])


GENERATORS = {"email": email, "phone": phone, "card": card_number, "national_id": china_id, "iban": iban}

TEMPLATES = [
    "my {kind} is {value}", "You can reach me on {value} after 6pm.", "Please use {value} for the refund",
    "{value} is what I gave you last time", "contact: {value}, thanks!", "hi, it's me again ({value})",
    "Is {value} correct? Order A12345 still hasn't arrived", "update it to {value} please",
    "I paid 19.99 with {value} yesterday", "why did you send the invoice to {value}?",
]


def pii_messages(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``n`` (kind, value, sentence) triples, the kinds in turn, each value inside a varied sentence."""
    rng = random.Random(seed)
    kinds = sorted(GENERATORS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        value = GENERATORS[kind](rng)
        out.append((kind, value, rng.choice(TEMPLATES).format(kind=kind.replace("_", " "), value=value)))
    return out


def shop_messages(n: int, seed: int = 0) -> list[str]:
    """Ordinary shop talk without personal data: order ids, prices, sizes, dates, quantities, tracking codes."""
    rng = random.Random(seed)
    d = lambda k: "".join(rng.choice("0123456789") for _ in range(k))  # noqa: E731 - a tiny local helper
    templates = [
        lambda: f"where is my order A{d(5)}?", lambda: f"order #{d(6)} arrived damaged",
        lambda: f"I want to return ORD-{rng.randint(2019, 2026)}-{d(6)}", lambda: f"the price says ${rng.randint(1, 999)}.{d(2)}",
        lambda: f"is it cheaper than ¥{rng.randint(100, 9999)}?", lambda: f"total was {rng.randint(1, 9)},{d(3)}.{d(2)} EUR",
        lambda: f"do you have it in size {rng.choice(['XS', 'S', 'M', 'L', 'XL', '42', '10.5', 'EU 38', '32x34'])}?",
        lambda: f"it was delivered on {rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"I ordered on {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2020, 2026)} at 14:{d(2)}",
        lambda: f"can I get {rng.randint(2, 12)} of SKU {d(2)}-{d(4)}?", lambda: f"tracking number 1Z{d(3)}AA{d(8)}",
        lambda: f"my JD order {d(12)} is late", lambda: f"coupon SAVE{rng.randint(5, 50)} didn't work",
        lambda: f"the {rng.randint(27, 65)} inch TV, model QN{d(2)}Q{d(2)}B", lambda: f"weight {rng.randint(1, 30)}.{d(1)} kg, {rng.randint(10, 200)} cm",
        lambda: f"invoice INV{d(8)} shows {rng.randint(1, 5)} items", lambda: "can you recommend a rain jacket under 80 dollars?",
        lambda: f"I'd like a refund for order A{d(5)} (item {rng.randint(1, 9)} of {rng.randint(2, 12)})",
        lambda: f"call me back between {rng.randint(9, 11)}:00 and {rng.randint(13, 17)}:30",
        lambda: f"promo code valid until 31.{rng.randint(1, 12):02d}.{rng.randint(2024, 2027)}",
    ]
    return [rng.choice(templates)() for _ in range(n)]
