"""PII masking: detectors, false masks on shop talk, and no raw PII in logs, stored trackers or stories."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from aiohttp import web
from privacy_support import DOMAIN, pii_messages, privacy_agent, redis_section, shop_messages

from bot.actions import ActionClient, ActionEndpoint
from bot.channels.base import UserMessage
from bot.loaders.endpoints_loader import Endpoints
from bot.privacy.pii import (
    CARD,
    EMAIL,
    IBAN,
    NATIONAL_ID,
    PHONE,
    PiiMasker,
    PrivacySettings,
    find_pii,
    mask_text,
)
from bot.privacy.store import MaskingTrackerStore
from bot.processor import MessageProcessor
from bot.server import Settings, create_app
from bot.stores import create_tracker_store
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore

N_PII = 250
MAX_FALSE_MASK_RATE = 0.01


@pytest.mark.parametrize(("text", "kind"), [
    ("write to li.wei@shop.cn today", EMAIL),
    ("call +44 20 7946 0958", PHONE),
    ("call +1 (415) 555-2671", PHONE),
    ("call 0049 30 1234567", PHONE),
    ("card 4111 1111 1111 1111", CARD),
    ("card 378282246310005", CARD),
    ("id 11010519491231002X", NATIONAL_ID),
    ("iban GB82 WEST 1234 5698 7654 32", IBAN),
    ("iban DE89370400440532013000", IBAN),
])
def test_each_kind_is_found(text: str, kind: str) -> None:
    assert [m.kind for m in find_pii(text)] == [kind]
    assert f"[{kind.upper()}]" in mask_text(text)


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112",      # fails Luhn
    "id 110105194912310021",         # wrong checksum character
    "id 110105194913310020",         # month 13
    "iban GB83 WEST 1234 5698 7654 32",  # fails mod 97
    "order A12345 for 19.99, size 42, on 2024-01-15",
])
def test_checksums_keep_lookalikes_unmasked(text: str) -> None:
    assert find_pii(text) == []


def test_only_configured_kinds_are_masked() -> None:
    masker = PiiMasker(PrivacySettings.from_config({"mask": ["email"]}))
    assert masker.text("a1@example.com / 4111 1111 1111 1111") == "[EMAIL] / 4111 1111 1111 1111"
    with pytest.raises(ValueError, match="unknown kind"):
        PrivacySettings.from_config({"mask": ["passport"]})


def test_slot_and_entity_rules() -> None:
    masker = PiiMasker(PrivacySettings.from_config({"mask_entities": ["order_id"], "keep_slots": ["email"],
                                                     "mask_slots": ["address"]}))
    user = {"event": "user", "text": "A12345 / a1@example.com",
            "parse_data": {"text": "A12345 / a1@example.com", "entities": [
                {"entity": "order_id", "value": "A12345"}, {"entity": "email", "value": "a1@example.com"}]}}
    masked = masker.event(user)
    assert masked["text"] == masked["parse_data"]["text"] == "A12345 / [EMAIL]"
    assert [e["value"] for e in masked["parse_data"]["entities"]] == ["[ORDER_ID]", "[EMAIL]"]
    assert user["parse_data"]["entities"][1]["value"] == "a1@example.com"  # the original is untouched
    assert masker.event({"event": "slot", "name": "email", "value": "a1@example.com"})["value"] == "a1@example.com"
    assert masker.event({"event": "slot", "name": "address", "value": "1 Main St"})["value"] == "[ADDRESS]"
    assert masker.event({"event": "slot", "name": "phone", "value": ["+44 20 7946 0958"]})["value"] == ["[PHONE]"]


def test_false_mask_rate_on_ordinary_shop_messages() -> None:
    messages = shop_messages(3000, seed=11)
    masked = [m for m in messages if mask_text(m) != m]
    rate = len(masked) / len(messages)
    print(f"\nfalse-mask rate on {len(messages)} shop messages: {rate:.2%} ({len(masked)}; e.g. {masked[:3]})")
    assert rate <= MAX_FALSE_MASK_RATE


def test_generated_pii_is_fully_masked_in_text() -> None:
    for kind, value, sentence in pii_messages(1000, seed=5):
        masked = mask_text(sentence)
        assert value not in masked, (kind, sentence, masked)
        assert f"[{kind.upper()}]" in masked, (kind, sentence, masked)


# -- end to end: logs, stored trackers (Redis, PostgreSQL) and stories --------------------------------

def _store_config(kind: str, request: pytest.FixtureRequest, prefix: str) -> dict[str, Any]:
    if kind == "redis":
        return redis_section(request.getfixturevalue("redis_url"), key_prefix=prefix)
    return {"type": "sql", "url": request.getfixturevalue("postgres_url")}


async def _raw_stored(kind: str, request: pytest.FixtureRequest, prefix: str, senders: list[str]) -> str:
    """Everything the store holds for ``senders``, read straight from Redis or SQL."""
    if kind == "redis":
        client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
        try:
            keys = [k async for k in client.scan_iter(f"{prefix}:*")]
            assert len(keys) == len(senders)
            return "\n".join([*keys, *[await client.get(k) or "" for k in keys]])
        finally:
            await client.aclose()
    engine = sa.create_engine(request.getfixturevalue("postgres_url"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT sender_id, type_name, intent_name, action_name, data FROM events "
                                        "WHERE sender_id LIKE :p"), {"p": f"{prefix}%"}).all()
        assert {row[0] for row in rows} == set(senders)
        return "\n".join(" ".join(str(c) for c in row) for row in rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize("store_kind", ["redis", "postgresql"])
async def test_no_raw_pii_in_logs_stores_or_stories(store_kind: str, request: pytest.FixtureRequest,
                                                    aiohttp_client: Any, aiohttp_server: Any,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    received: list[dict[str, Any]] = []

    async def webhook(req: web.Request) -> web.Response:
        received.append(await req.json())
        return web.json_response({"events": [], "responses": []})

    action_app = web.Application()
    action_app.router.add_post("/webhook", webhook)
    action_server = await aiohttp_server(action_app)

    prefix = f"pii{uuid.uuid4().hex[:8]}"
    tracker_store = create_tracker_store(_store_config(store_kind, request, prefix), DOMAIN)
    agent = privacy_agent({"inform": ["action_check_order"], "greet": ["utter_greet"]})
    endpoints = Endpoints(action_endpoint={"url": str(action_server.make_url("/webhook"))})
    settings = Settings(agent=agent, enable_api=True, endpoints=endpoints,
                        tracker_store=tracker_store, lock_store=InMemoryLockStore())
    client = await aiohttp_client(create_app(settings))
    caplog.set_level(logging.DEBUG)
    bot_logger = logging.getLogger("bot.channels.rest")

    messages = pii_messages(N_PII, seed=17)
    senders = [f"{prefix}-s{i}" for i in range(10)]
    entity_of = {"email": "email", "phone": "phone", "card": "card", "national_id": "order_id", "iban": "order_id"}
    try:
        for index, (kind, value, sentence) in enumerate(messages):
            sender = senders[index % len(senders)]
            text = sentence if index % 2 else "/inform" + json.dumps({entity_of[kind]: value})
            bot_logger.info("message from %s: %s", sender, text)  # what a careless debug line would write
            response = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
            assert response.status == 200
        stories = [await (await client.get(f"/conversations/{s}/story")).text() for s in senders]
        trackers = [await (await client.get(f"/conversations/{s}/tracker")).text() for s in senders]
        stored = await _raw_stored(store_kind, request, prefix, senders)
    finally:
        for sender in senders:
            await tracker_store.delete(sender)
        await tracker_store.close()

    values = [value for _, value, _ in messages]
    assert len(values) >= 200
    logs = "\n".join(record.getMessage() for record in caplog.records)
    story_text, tracker_text = "\n".join(stories), "\n".join(trackers)
    for value in values:
        assert value not in logs, value
        assert value not in stored, value
        assert value not in story_text, value
        assert value not in tracker_text, value
    for placeholder in ("[EMAIL]", "[PHONE]", "[CARD]", "[NATIONAL_ID]", "[IBAN]"):
        assert placeholder in logs and placeholder in stored and placeholder in story_text
    # the action server got the real values for the lookup in flight
    sent = {entity_of[k] + "=" + v for k, v, _ in messages[::2]}
    seen = {f"{name}={value}" for call in received for name, value in call["tracker"]["slots"].items()
            if isinstance(value, str)}
    assert sent <= seen
    print(f"\n{store_kind}: {len(values)} PII strings, 0 raw in logs/stored trackers/stories")


async def test_a_later_turn_still_gets_the_real_slot_value_but_only_in_memory(aiohttp_server: Any) -> None:

    received: list[dict[str, Any]] = []

    async def webhook(req: web.Request) -> web.Response:
        received.append(await req.json())
        return web.json_response({"events": [], "responses": []})

    action_app = web.Application()
    action_app.router.add_post("/webhook", webhook)
    action_server = await aiohttp_server(action_app)
    now = [0.0]
    inner = InMemoryTrackerStore(DOMAIN)
    store = MaskingTrackerStore(inner, PiiMasker(), live_slot_ttl=600, clock=lambda: now[0])
    client = ActionClient(ActionEndpoint.from_config({"url": str(action_server.make_url("/webhook"))}))
    agent = privacy_agent({"check": ["action_check_order"]})
    processor = MessageProcessor(agent, store, InMemoryLockStore(), client)
    try:
        await processor.handle_message(UserMessage('/inform{"email": "mia77@example.com"}', "s1"))
        await processor.handle_message(UserMessage("/check", "s1"))  # a later turn: the action needs the e-mail
        assert received[-1]["tracker"]["slots"]["email"] == "mia77@example.com"
        assert "mia77@example.com" not in inner._store["s1"] and "[EMAIL]" in inner._store["s1"]
        assert (await processor.get_tracker("s1")).get_slot("email") == "[EMAIL]"  # API reads stay masked

        restarted = MessageProcessor(agent, MaskingTrackerStore(inner, PiiMasker()), InMemoryLockStore(), client)
        await restarted.handle_message(UserMessage("/check", "s1"))
        assert received[-1]["tracker"]["slots"]["email"] == "[EMAIL]"  # nothing real survives a restart

        now[0] = 601.0  # past the time to live
        await processor.handle_message(UserMessage("/check", "s1"))
        assert received[-1]["tracker"]["slots"]["email"] == "[EMAIL]"
    finally:
        await client.close()


async def test_live_slot_values_are_bounded_in_count_and_time() -> None:
    """A flood of conversations cannot grow the live-value memory past its cap; time still expires them."""
    from bot.tracker import DialogueStateTracker

    now = [0.0]
    store = MaskingTrackerStore(InMemoryTrackerStore(DOMAIN), PiiMasker(), live_slot_ttl=100,
                                clock=lambda: now[0], max_live_conversations=3)

    def tracker(sender: str) -> DialogueStateTracker:
        return DialogueStateTracker(sender, {}, [{"event": "slot", "name": "email", "value": f"{sender}@example.com"}])

    for index in range(10):
        now[0] = float(index)
        await store.save(tracker(f"s{index}"))
        assert len(store) <= 3
    live = {s: (await store.retrieve_live(s)).get_slot("email") for s in ("s0", "s6", "s7", "s8", "s9")}
    assert live == {"s0": "[EMAIL]", "s6": "[EMAIL]", "s7": "s7@example.com", "s8": "s8@example.com",
                    "s9": "s9@example.com"}
    now[0] = 7.5
    await store.save(tracker("s7"))  # saved again: now the newest, so s8 is the oldest
    await store.save(tracker("s10"))
    assert (await store.retrieve_live("s8")).get_slot("email") == "[EMAIL]"
    assert (await store.retrieve_live("s7")).get_slot("email") == "s7@example.com"
    now[0] = 200.0  # every entry is past its time: the next save drops them all
    await store.save(DialogueStateTracker("quiet", {}, [{"event": "slot", "name": "size", "value": "M"}]))
    assert len(store) == 0


def test_log_masking_installs_and_uninstalls(caplog: pytest.LogCaptureFixture) -> None:
    from bot.privacy.pii import LogMasking

    original = logging.getLogRecordFactory()
    masking = LogMasking(PiiMasker())
    masking.install()
    try:
        logging.getLogger("bot.test").warning("refund to %s", "DE89370400440532013000")
    finally:
        masking.uninstall()
    assert logging.getLogRecordFactory() is original
    logging.getLogger("bot.test").warning("after: %s", "a1@example.com")
    assert [r.getMessage() for r in caplog.records] == ["refund to [IBAN]", "after: a1@example.com"]
