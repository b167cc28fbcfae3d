"""Tracker stores against real backends: SQLite files, Redis, and PostgreSQL when one answers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from bot import events as ev
from bot.domain import Domain
from bot.stores import (
    InMemoryTrackerStore,
    RedisTrackerStore,
    SQLTrackerStore,
    StoreConfigError,
    StoreUnavailableError,
    TrackerStore,
    create_tracker_store,
)
from bot.tracker import INCLUDE_ALL, INCLUDE_APPLIED, DialogueStateTracker

DOMAIN = Domain.from_dict({
    "slots": {
        "order_id": {"type": "text"},
        "language": {"type": "categorical", "values": ["zh", "en"], "initial_value": "zh"},
        "vip": {"type": "bool", "initial_value": False},
        "cart_total": {"type": "float"},
    },
    "forms": {"order_form": {"required_slots": ["order_id"]}},
})


def redis_section(redis_url: str, **extra: Any) -> dict[str, Any]:
    """Rasa's keys for the Redis behind ``redis_url``."""
    parts = urlsplit(redis_url)
    return {"type": "redis", "url": parts.hostname, "port": parts.port or 6379,
            "db": int(parts.path.strip("/") or 0), **extra}


def rich_events() -> list[dict[str, Any]]:
    """A conversation that touches most of the state: sessions, slots, a form, a restart, rewinds, a pause."""
    return [
        ev.ActionExecuted("action_session_start"),
        ev.SessionStarted(),
        ev.SlotSet("language", "en"),
        ev.ActionExecuted("action_listen"),
        ev.UserUttered(
            "我想查订单 12345",
            parse_data={"intent": {"name": "track_order", "confidence": 0.93},
                        "entities": [{"entity": "order_id", "value": "12345", "start": 6, "end": 11}]},
            input_channel="rest", message_id="m-1", metadata={"shop": "tmall", "ids": [1, 2.5]},
        ),
        ev.SlotSet("order_id", "12345"),
        ev.ActiveLoop("order_form"),
        ev.SlotSet("requested_slot", None),
        ev.ActionExecuted("order_form", policy="RulePolicy", confidence=1.0),
        ev.BotUttered("您的订单已发货", {"buttons": [{"title": "好", "payload": "/affirm"}]}),
        ev.ActionExecuted("action_listen"),
        ev.Restarted(),
        ev.SlotSet("vip", True),
        ev.ActionExecuted("action_listen"),
        ev.UserUttered("hi", parse_data={"intent": {"name": "greet", "confidence": 0.99}, "entities": []}),
        ev.UserUtteranceReverted(),
        ev.UserUttered("where is my parcel", parse_data={"intent": {"name": "track_order", "confidence": 0.8}}),
        ev.SlotSet("cart_total", 12.5),
        ev.ConversationPaused(),
        ev.HandedOff("angry customer"),
        ev.FollowupAction("utter_greet"),
    ]


@dataclass
class Backend:
    """One kind of store over one backend; ``open()`` gives a new store object (a "restarted server")."""

    name: str
    config: dict[str, Any] | None
    persistent: bool
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    stores: list[TrackerStore] = field(default_factory=list)

    def open(self) -> TrackerStore:
        store = create_tracker_store(self.config, DOMAIN)
        self.stores.append(store)
        return store

    def sender(self, name: str = "conv") -> str:
        return f"{self.prefix}-{name}"


async def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The store kind named by ``request.param``; its conversations are deleted and its stores closed after."""
    kind = request.param
    if kind == "in_memory":
        store_backend = Backend(kind, None, persistent=False)
    elif kind == "sqlite":
        store_backend = Backend(kind, {"type": "sql", "db": str(tmp_path / "kefu.db")}, persistent=True)
    elif kind == "redis":
        store_backend = Backend(kind, None, persistent=True)
        store_backend.config = redis_section(request.getfixturevalue("redis_url"), key_prefix=store_backend.prefix)
    else:
        store_backend = Backend(kind, {"type": "sql", "url": request.getfixturevalue("postgres_url")}, persistent=True)
    yield store_backend
    if store_backend.persistent and store_backend.stores:
        cleaner = store_backend.open()
        for sender_id in await cleaner.keys():
            if sender_id.startswith(store_backend.prefix):
                await cleaner.delete(sender_id)
    for store in store_backend.stores:
        await store.close()


@pytest.fixture(params=["in_memory", "sqlite", "redis", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Every store kind."""
    async for store_backend in open_backend(request, tmp_path):
        yield store_backend


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
async def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The store kinds that outlive the process (the in-memory one forgets everything, by design)."""
    async for store_backend in open_backend(request, tmp_path):
        yield store_backend


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The SQL store kinds."""
    async for store_backend in open_backend(request, tmp_path):
        yield store_backend


def saved_tracker(store: TrackerStore, sender_id: str) -> DialogueStateTracker:
    return store.init_tracker(sender_id, rich_events())


async def test_round_trip_gives_identical_state(backend: Backend) -> None:
    store = backend.open()
    sender_id = backend.sender()
    tracker = saved_tracker(store, sender_id)
    await store.save(tracker)

    restored = await store.retrieve(sender_id)

    assert restored is not None
    assert restored.events == tracker.events
    for verbosity in (INCLUDE_ALL, INCLUDE_APPLIED):
        assert restored.current_state(verbosity) == tracker.current_state(verbosity)
    assert restored.current_state() == tracker.current_state()
    # the restart reset slots to the domain's defaults, then vip was set; the pause and handoff hold
    assert restored.slots["language"] == "zh" and restored.slots["vip"] is True
    assert restored.slots["cart_total"] == 12.5 and restored.slots["order_id"] is None
    assert restored.is_handed_off and restored.followup_action == "utter_greet"
    assert sender_id in await store.keys()


async def test_unknown_conversation_is_none_and_empty_tracker_is_not_stored(backend: Backend) -> None:
    store = backend.open()
    sender_id = backend.sender("nobody")

    assert await store.retrieve(sender_id) is None
    await store.save(store.init_tracker(sender_id))
    assert await store.retrieve(sender_id) is None
    created = await store.get_or_create_tracker(sender_id)
    assert created.events == [] and created.slots["language"] == "zh"


async def test_conversation_survives_a_restart(persistent_backend: Backend) -> None:
    backend = persistent_backend
    sender_id = backend.sender()
    first = backend.open()
    tracker = saved_tracker(first, sender_id)
    await first.save(tracker)
    await first.close()

    second = backend.open()
    restored = await second.retrieve(sender_id)
    assert restored is not None
    assert restored.current_state(INCLUDE_ALL) == tracker.current_state(INCLUDE_ALL)

    restored.update(ev.UserUttered("还在吗", parse_data={"intent": {"name": "greet"}}))
    await second.save(restored)
    third = backend.open()
    again = await third.retrieve(sender_id)
    assert again is not None
    assert again.current_state(INCLUDE_ALL) == restored.current_state(INCLUDE_ALL)
    assert again.latest_message["text"] == "还在吗"


async def test_delete_erases_the_conversation(backend: Backend) -> None:
    store = backend.open()
    kept, erased = backend.sender("kept"), backend.sender("erased")
    await store.save(saved_tracker(store, kept))
    await store.save(saved_tracker(store, erased))

    assert await store.delete(erased) is True
    assert await store.retrieve(erased) is None
    assert erased not in await store.keys()
    assert await store.delete(erased) is False
    assert await store.retrieve(kept) is not None


# -- SQL ---------------------------------------------------------------------------------------------


def events_rows(url: sa.URL | str, sender_id: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text(
                "SELECT id, type_name, intent_name, action_name, data FROM events WHERE sender_id = :s ORDER BY id"
            )
            return [tuple(row) for row in conn.execute(query, {"s": sender_id})]
    finally:
        engine.dispose()


async def test_sql_save_appends_only_new_events(sql_backend: Backend) -> None:
    backend = sql_backend
    store = backend.open()
    assert isinstance(store, SQLTrackerStore)
    sender_id = backend.sender()
    tracker = saved_tracker(store, sender_id)
    await store.save(tracker)
    before = events_rows(store.url, sender_id)
    assert len(before) == len(tracker.events)

    tracker.update_with_events([
        ev.UserUttered("退货", parse_data={"intent": {"name": "return_item", "confidence": 0.7}}),
        ev.ActionExecuted("action_return"),
        ev.BotUttered("好的"),
    ])
    await store.save(tracker)
    await store.save(tracker)  # nothing new: nothing added

    after = events_rows(store.url, sender_id)
    assert after[: len(before)] == before  # old rows untouched (same ids, same data)
    assert len(after) == len(tracker.events)
    new_rows = after[len(before):]
    assert [row[1] for row in new_rows] == ["user", "action", "bot"]
    assert new_rows[0][2] == "return_item"  # intent_name, as Rasa fills it
    assert new_rows[1][3] == "action_return"  # action_name
    assert json.loads(new_rows[0][4])["text"] == "退货"


async def test_sql_default_is_kefu_db_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with create_tracker_store({"type": "SQL"}, DOMAIN) as store:
        assert isinstance(store, SQLTrackerStore)
        await store.save(store.init_tracker("a", [ev.ActionExecuted("action_listen")]))
    assert (tmp_path / "kefu.db").is_file()
    async with create_tracker_store({"type": "sql"}, DOMAIN) as store:
        assert await store.keys() == ["a"]


async def test_postgres_login_db_creates_the_database(postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    database = f"kefu_test_{uuid.uuid4().hex[:8]}"
    config = {"type": "sql", "dialect": "postgresql", "url": url.host, "port": url.port,
              "username": url.username, "password": url.password, "db": database, "login_db": url.database}
    try:
        async with create_tracker_store(config, DOMAIN) as store:
            await store.save(saved_tracker(store, "c1"))
        async with create_tracker_store(config, DOMAIN) as store:
            restored = await store.retrieve("c1")
            assert restored is not None and restored.slots["vip"] is True
    finally:
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


async def test_unreachable_postgres_raises_store_unavailable_quickly(unused_tcp_port: int) -> None:
    config = {"type": "sql", "dialect": "postgresql", "url": "127.0.0.1", "port": unused_tcp_port,
              "username": "kefu", "db": "kefu"}
    store = create_tracker_store(config, DOMAIN)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{unused_tcp_port}"):
        await store.retrieve("x")
    assert time.monotonic() - started < 5
    await store.close()


# -- Redis -------------------------------------------------------------------------------------------


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_redis_keys_follow_rasa_layout_and_key_prefix(redis_url: str, redis_client: aioredis.Redis) -> None:
    prefix = f"shop{uuid.uuid4().hex[:8]}"
    sender_id = f"user-{uuid.uuid4().hex[:8]}"
    async with create_tracker_store(redis_section(redis_url, key_prefix=prefix), DOMAIN) as store:
        tracker = saved_tracker(store, sender_id)
        await store.save(tracker)
        stored = json.loads(await redis_client.get(f"{prefix}:tracker:{sender_id}"))
        assert stored["sender_id"] == sender_id and stored["events"] == tracker.events  # Rasa's JSON value
        assert await store.keys() == [sender_id]
        await store.delete(sender_id)

    async with create_tracker_store(redis_section(redis_url), DOMAIN) as default:
        await default.save(default.init_tracker(sender_id, [ev.ActionExecuted("action_listen")]))
        try:
            assert await redis_client.exists(f"tracker:{sender_id}") == 1
        finally:
            await default.delete(sender_id)


async def test_redis_reads_a_tracker_written_by_rasa(redis_url: str, redis_client: aioredis.Redis) -> None:
    prefix = f"rasa{uuid.uuid4().hex[:8]}"
    events = [ev.ActionExecuted("action_listen", timestamp=1.5),
              ev.UserUttered("hello", {"intent": {"name": "greet"}}, timestamp=2.5)]
    rasa_value = {"sender_id": "r1", "slots": {"language": None}, "latest_message": {}, "events": events,
                  "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}
    await redis_client.set(f"{prefix}:tracker:r1", json.dumps(rasa_value))
    try:
        async with create_tracker_store(redis_section(redis_url, key_prefix=prefix), DOMAIN) as store:
            tracker = await store.retrieve("r1")
        assert tracker is not None and tracker.events == events
        assert tracker.latest_intent == "greet" and tracker.slots["language"] == "zh"  # state comes from events
    finally:
        await redis_client.delete(f"{prefix}:tracker:r1")


async def test_redis_record_exp_sets_a_ttl(redis_url: str, redis_client: aioredis.Redis) -> None:
    prefix = f"exp{uuid.uuid4().hex[:8]}"
    config = redis_section(redis_url, key_prefix=prefix, record_exp="120")  # env-interpolated: a string
    async with create_tracker_store(config, DOMAIN) as store:
        assert isinstance(store, RedisTrackerStore) and store.record_exp == 120.0
        await store.save(saved_tracker(store, "c"))
        ttl_ms = await redis_client.pttl(f"{prefix}:tracker:c")
        assert 110_000 < ttl_ms <= 120_000
        await store.delete("c")
    async with create_tracker_store(redis_section(redis_url, key_prefix=prefix), DOMAIN) as forever:
        await forever.save(saved_tracker(forever, "c"))
        assert await redis_client.pttl(f"{prefix}:tracker:c") == -1  # no record_exp: kept
        await forever.delete("c")


async def test_unreachable_redis_raises_store_unavailable_quickly(unused_tcp_port: int) -> None:
    config = {"type": "redis", "url": "127.0.0.1", "port": unused_tcp_port, "socket_timeout": 0.5}
    async with create_tracker_store(config, DOMAIN) as store:
        for call in (lambda: store.retrieve("x"), lambda: store.save(saved_tracker(store, "x")), store.keys):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as caught:
                await call()
            assert time.monotonic() - started < 2
            assert f"redis://127.0.0.1:{unused_tcp_port}/0" in str(caught.value)
            assert caught.value.store == "tracker store"


async def test_redis_store_recovers_when_redis_comes_back(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    config = {"type": "redis", "url": "127.0.0.1", "port": server.port, "socket_timeout": 1}
    async with create_tracker_store(config, DOMAIN) as store:
        tracker = saved_tracker(store, "c")
        await store.save(tracker)
        server.stop()
        with pytest.raises(StoreUnavailableError):
            await store.save(tracker)
        with pytest.raises(StoreUnavailableError):
            await store.retrieve("c")
        server.start()  # same port, empty (no persistence): the same store object works again
        await store.save(tracker)
        restored = await store.retrieve("c")
        assert restored is not None and restored.current_state(INCLUDE_ALL) == tracker.current_state(INCLUDE_ALL)


# -- factory -----------------------------------------------------------------------------------------


class CountingTrackerStore(InMemoryTrackerStore):
    """A custom store, as a user would name it in endpoints.yml (``type: mypkg.MyStore``)."""

    def __init__(self, domain: Domain | None = None, *, label: str = "", url: str | None = None) -> None:
        super().__init__(domain)
        self.label, self.url, self.saves = label, url, 0

    async def _save(self, tracker: DialogueStateTracker) -> None:
        self.saves += 1
        await super()._save(tracker)


async def test_factory_builds_each_store_type(tmp_path: Path) -> None:
    assert isinstance(create_tracker_store(None, DOMAIN), InMemoryTrackerStore)
    assert isinstance(create_tracker_store({"type": "in_memory"}, DOMAIN), InMemoryTrackerStore)
    assert isinstance(create_tracker_store({"type": None}, DOMAIN), InMemoryTrackerStore)
    sql = create_tracker_store({"type": "sql", "db": str(tmp_path / "a.db")}, DOMAIN)
    assert isinstance(sql, SQLTrackerStore) and sql.url.database == str(tmp_path / "a.db")
    pg = create_tracker_store({"type": "sql", "dialect": "postgresql", "url": "db.example:6432", "db": "kefu",
                               "username": "bot", "password": "s3cret"}, DOMAIN)
    assert isinstance(pg, SQLTrackerStore) and (pg.url.host, pg.url.port, pg.url.database) == ("db.example", 6432, "kefu")
    assert "s3cret" not in pg.describe()
    redis_store = create_tracker_store(
        {"type": "Redis", "url": "cache", "port": "6380", "db": "2", "use_ssl": "false", "password": "",
         "key_prefix": "shop"}, DOMAIN,
    )
    assert isinstance(redis_store, RedisTrackerStore)
    assert (redis_store.settings.host, redis_store.settings.port, redis_store.settings.db) == ("cache", 6380, 2)
    assert redis_store.settings.use_ssl is False and redis_store.settings.password is None
    assert redis_store.key("u1") == "shop:tracker:u1"
    await redis_store.close()


async def test_factory_loads_a_custom_store_by_dotted_path() -> None:
    store = create_tracker_store({"type": f"{__name__}.CountingTrackerStore", "label": "x", "url": "mem://"}, DOMAIN)
    assert isinstance(store, CountingTrackerStore) and (store.label, store.url) == ("x", "mem://")
    await store.save(store.init_tracker("a", [ev.ActionExecuted("action_listen")]))
    assert store.saves == 1 and (await store.retrieve("a")).slots["language"] == "zh"  # got the domain


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "mongod"}, r"endpoints.yml: error: tracker_store.type: unknown store 'mongod' \(expected one of "
                             r"in_memory, sql, redis or the dotted path of a TrackerStore subclass\)"),
        ({"type": "no_such_pkg.Store"}, r"tracker_store.type: cannot import module 'no_such_pkg'"),
        ({"type": "bot.stores.NoSuchStore"}, r"tracker_store.type: module 'bot.stores' has no class 'NoSuchStore'"),
        ({"type": "collections.OrderedDict"}, r"tracker_store.type: 'collections.OrderedDict' is not a TrackerStore"),
        ({"type": f"{__name__}.CountingTrackerStore", "colour": "red"}, r"cannot create .* from colour"),
        ({"type": "redis", "port": "six"}, r"tracker_store.port: expected an integer, got 'six'"),
        ({"type": "redis", "use_ssl": "maybe"}, r"tracker_store.use_ssl: expected true or false"),
        ({"type": "redis", "record_exp": "-5"}, r"tracker_store.record_exp: expected a number >= 0"),
        ({"type": "sql", "url": "not a url://"}, r"tracker_store.url: invalid database URL"),
        ({"type": "sql", "query": "sslmode"}, r"tracker_store.query: expected a mapping"),
    ],
)
def test_factory_rejects_bad_config_naming_the_key(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(StoreConfigError, match=expected):
        create_tracker_store(config, DOMAIN)
