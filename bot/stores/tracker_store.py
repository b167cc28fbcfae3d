"""Tracker stores: where each conversation's events are kept between turns.

A store keeps events only; a tracker's state is rebuilt by replaying them
(:class:`~bot.tracker.DialogueStateTracker`), so a tracker read back is identical to the one saved.
Three built-in stores, chosen by ``tracker_store.type`` in endpoints.yml (see :mod:`bot.stores.factory`):

- :class:`InMemoryTrackerStore` (default): one process, lost on restart.
- :class:`SQLTrackerStore` (``type: sql``): Rasa's ``events`` table, one row per event; SQLite file by
  default, PostgreSQL (or any SQLAlchemy URL) works.
- :class:`RedisTrackerStore` (``type: redis``): Rasa's layout, one JSON value per conversation under
  ``tracker:<sender_id>`` (``<key_prefix>:tracker:<sender_id>`` with a prefix).

A backend that cannot be reached raises :class:`~bot.stores.errors.StoreUnavailableError` (the server
answers 503); the store keeps working once the backend is back.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from bot import fastjson
from bot.domain import Domain
from bot.events import EventDict
from bot.stores.constants import (
    DEFAULT_SQL_CONNECT_TIMEOUT,
    DEFAULT_SQL_DB,
    DEFAULT_SQL_DIALECT,
    REDIS_TRACKER_KEY_PREFIX,
    SQL_EVENTS_TABLE,
)
from bot.stores.errors import StoreError, StoreUnavailableError
from bot.stores.redis_connection import RedisSettings, escape_glob, redis_errors
from bot.tracker import INCLUDE_ALL, DialogueStateTracker

logger = logging.getLogger(__name__)

T = TypeVar("T")
SelfStore = TypeVar("SelfStore", bound="TrackerStore")

TRACKER_STORE = "tracker store"


def slot_defaults_of(domain: Domain) -> dict[str, Any]:
    """Each slot's initial value, as :meth:`DialogueStateTracker.from_domain` uses them."""
    return {name: slot.initial_value for name, slot in domain.all_slots().items()}


class TrackerStore(ABC):
    """Keeps conversations: ``retrieve``, ``save``, ``delete``, ``keys``, ``close``.

    ``retrieve`` and ``save`` adapt (build trackers, skip empty ones); a subclass writes the hooks
    ``_retrieve_events`` and ``_save`` plus ``delete`` and ``keys``. ``save`` expects the tracker
    that ``retrieve`` returned, extended with new events, and the caller to hold the conversation's
    lock (:mod:`bot.stores.lock_store`) from retrieve to save.

    :param domain: the domain whose slot defaults rebuilt trackers start from
    :param slot_defaults: the slot defaults themselves (instead of ``domain``)
    """

    def __init__(self, domain: Domain | None = None, *, slot_defaults: Mapping[str, Any] | None = None) -> None:
        if domain is not None and slot_defaults is not None:
            raise StoreError("a tracker store takes a domain or slot_defaults, not both")
        self.slot_defaults: dict[str, Any] = (
            slot_defaults_of(domain) if domain is not None else dict(slot_defaults or {})
        )

    def set_domain(self, domain: Domain) -> None:
        """Rebuild trackers with ``domain``'s slot defaults from now on (after a model reload)."""
        self.slot_defaults = slot_defaults_of(domain)

    def init_tracker(self, sender_id: str, events: Iterable[EventDict] = ()) -> DialogueStateTracker:
        """A tracker for ``sender_id`` with this store's slot defaults (not saved)."""
        return DialogueStateTracker(sender_id, self.slot_defaults, events)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation's tracker with every event, or None if nothing was saved for it."""
        events = await self._retrieve_events(sender_id)
        if not events:
            return None
        return self.init_tracker(sender_id, events)

    async def get_or_create_tracker(self, sender_id: str) -> DialogueStateTracker:
        """The stored tracker, or a new empty one (saved only when ``save`` is called)."""
        tracker = await self.retrieve(sender_id)
        return tracker if tracker is not None else self.init_tracker(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the tracker's events. A tracker without events stores nothing."""
        if tracker.events:
            await self._save(tracker)

    @abstractmethod
    async def _retrieve_events(self, sender_id: str) -> list[EventDict] | None:
        """Every stored event of the conversation, oldest first (None or [] when unknown)."""

    @abstractmethod
    async def _save(self, tracker: DialogueStateTracker) -> None:
        """Persist ``tracker.events`` (never empty)."""

    @abstractmethod
    async def delete(self, sender_id: str) -> bool:
        """Erase the conversation; True if there was something to erase."""

    @abstractmethod
    async def keys(self) -> list[str]:
        """The sender ids of every stored conversation."""

    async def close(self) -> None:  # noqa: B027 - a store without connections has nothing to close
        """Release connections; the store must not be used afterwards."""

    def describe(self) -> str:
        """What and where, for logs (never shows a password)."""
        return type(self).__name__

    async def __aenter__(self: SelfStore) -> SelfStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class InMemoryTrackerStore(TrackerStore):
    """Conversations in this process's memory, kept as JSON like the other stores (so nothing aliases).

    :param domain: the domain whose slot defaults rebuilt trackers start from
    :param slot_defaults: the slot defaults themselves (instead of ``domain``)
    """

    def __init__(self, domain: Domain | None = None, *, slot_defaults: Mapping[str, Any] | None = None) -> None:
        super().__init__(domain, slot_defaults=slot_defaults)
        self._store: dict[str, str] = {}

    async def _retrieve_events(self, sender_id: str) -> list[EventDict] | None:
        stored = self._store.get(sender_id)
        return None if stored is None else fastjson.loads(stored)

    async def _save(self, tracker: DialogueStateTracker) -> None:
        self._store[tracker.sender_id] = fastjson.dumps(tracker.events)

    async def delete(self, sender_id: str) -> bool:
        return self._store.pop(sender_id, None) is not None

    async def keys(self) -> list[str]:
        return list(self._store)

    def describe(self) -> str:
        return "in-memory tracker store"


# -- SQL -------------------------------------------------------------------------------------------

_METADATA = sa.MetaData()
# Rasa's `events` table (rasa/core/tracker_store.py, SQLTrackerStore.SQLEvent): one row per event.
EVENTS_TABLE = sa.Table(
    SQL_EVENTS_TABLE,
    _METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)

_SQL_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def _event_row(sender_id: str, event: EventDict) -> dict[str, Any]:
    """One ``events`` row, filled as Rasa fills it (``action_name`` is the event's ``name`` key)."""
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    name = event.get("name")
    return {
        "sender_id": sender_id,
        "type_name": str(event.get("event")),
        "timestamp": event.get("timestamp"),
        "intent_name": intent if isinstance(intent, str) else None,
        "action_name": name if isinstance(name, str) else None,
        "data": fastjson.dumps(event),
    }


def _postgres_driver() -> str:
    """SQLAlchemy's plain ``postgresql`` means psycopg2; use psycopg 3 when only that is installed."""
    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    return "postgresql"


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead logging: one fsync per commit instead of several, and readers never block the writer
    (several Kefu processes may share the file). Stays in the default (rollback journal) where WAL is refused."""
    try:
        dbapi_connection.execute("PRAGMA journal_mode=WAL").close()
    except sqlite3.Error as error:  # e.g. a read-only or network file system
        logger.debug("SQLite refused WAL mode: %s", error)


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0]


class SQLTrackerStore(TrackerStore):
    """Conversations in an SQL database: Rasa's ``events`` table, one row per event.

    ``save`` appends only the events not stored yet (those past the stored count, as Rasa does).
    Blocking database calls run in a worker thread (``asyncio.to_thread``). The table is created
    on first use.

    :param domain: the domain whose slot defaults rebuilt trackers start from
    :param url: a full SQLAlchemy URL (``postgresql://user:pw@host/db``); the other keys are then ignored
    :param dialect: ``sqlite`` (default), ``postgresql``, ...; ``postgresql`` uses psycopg 3 when psycopg2 is absent
    :param host: database host (Rasa's ``url`` key), may include ``:port``
    :param port: database port
    :param db: database name, or the SQLite file (default ``kefu.db`` in the working directory)
    :param username: user name
    :param password: password
    :param login_db: PostgreSQL only: connect to this database first and create ``db`` if it is missing
    :param query: extra options for the driver (``sslmode: require``)
    :param slot_defaults: the slot defaults themselves (instead of ``domain``)
    """

    def __init__(
        self,
        domain: Domain | None = None,
        *,
        url: str | None = None,
        dialect: str = DEFAULT_SQL_DIALECT,
        host: str | None = None,
        port: int | None = None,
        db: str = DEFAULT_SQL_DB,
        username: str | None = None,
        password: str | None = None,
        login_db: str | None = None,
        query: Mapping[str, Any] | None = None,
        slot_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(domain, slot_defaults=slot_defaults)
        self.url = self._engine_url(url, dialect, host, port, db, username, password, query)
        self.login_db = login_db
        self._engine: Engine | None = None
        self._ready = False
        self._init_lock = threading.Lock()

    @staticmethod
    def _engine_url(
        url: str | None, dialect: str, host: str | None, port: int | None, db: str,
        username: str | None, password: str | None, query: Mapping[str, Any] | None,
    ) -> URL:
        if host and "://" in host and not url:
            url = host  # Rasa lets `url:` hold a whole database URL
        try:
            if url:
                engine_url = sa.make_url(url)
            else:
                if host:  # Rasa lets the host carry the port: `db.example.com:5432`
                    name, _, maybe_port = host.rpartition(":")
                    if name and maybe_port.isdigit():
                        host, port = name, int(maybe_port)
                engine_url = URL.create(
                    dialect, username=username, password=password, host=host, port=port, database=db,
                    query={str(k): str(v) for k, v in (query or {}).items()},
                )
        except (sa_exc.ArgumentError, ValueError, TypeError) as error:
            raise StoreError(f"invalid database URL {url or dialect!r}: {error}") from None
        if engine_url.drivername == "postgresql":
            engine_url = engine_url.set(drivername=_postgres_driver())
        return engine_url

    def describe(self) -> str:
        return f"SQL tracker store at {self.url.render_as_string(hide_password=True)}"

    # -- engine (worker thread) ----------------------------------------------------------------------
    @property
    def _is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def _create_engine(self, url: URL) -> Engine:
        if self._is_sqlite:
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
            if url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database across threads
                return sa.create_engine(url, **kwargs)
            engine = sa.create_engine(url, **kwargs)
            sa.event.listen(engine, "connect", _sqlite_wal)
            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() in ("postgresql", "mysql") and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = DEFAULT_SQL_CONNECT_TIMEOUT
        return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    def _create_database(self) -> None:
        """PostgreSQL's ``login_db``: connect there and create the working database if it is missing."""
        if self.url.get_backend_name() != "postgresql":
            logger.warning("tracker_store.login_db is only used with PostgreSQL; ignoring it")
            return
        login_engine = self._create_engine(self.url.set(database=self.login_db))
        try:
            with login_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                exists = conn.execute(
                    sa.text("SELECT 1 FROM pg_catalog.pg_database WHERE datname = :name"),
                    {"name": self.url.database},
                ).first()
                if not exists:
                    quoted = conn.dialect.identifier_preparer.quote(str(self.url.database))
                    try:
                        conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
                    except sa_exc.ProgrammingError:  # another process created it meanwhile
                        logger.debug("database %s exists already", quoted)
        finally:
            login_engine.dispose()

    def _ensure_ready(self) -> Engine:
        """The engine, with the database and the ``events`` table in place (once; retried after failures)."""
        if self._ready and self._engine is not None:
            return self._engine
        with self._init_lock:
            if self._ready and self._engine is not None:
                return self._engine
            if self._is_sqlite and self.url.database not in (None, "", ":memory:"):
                Path(str(self.url.database)).parent.mkdir(parents=True, exist_ok=True)
            if self.login_db:
                self._create_database()
            if self._engine is None:
                self._engine = self._create_engine(self.url)
            try:
                _METADATA.create_all(self._engine, checkfirst=True)
            except (sa_exc.OperationalError, sa_exc.ProgrammingError):
                # Several Kefu processes may create the table at once: fine if one of them succeeded.
                if not sa.inspect(self._engine).has_table(SQL_EVENTS_TABLE):
                    raise
            self._ready = True
            return self._engine

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _SQL_UNAVAILABLE as error:
            where = self.url.render_as_string(hide_password=True)
            raise StoreUnavailableError(TRACKER_STORE, where, _first_line(error)) from error
        except sa_exc.SQLAlchemyError as error:
            raise StoreError(f"{self.describe()}: {_first_line(error)}") from error

    async def _run(self, work: Callable[[Engine], T]) -> T:
        def in_thread() -> T:
            return work(self._ensure_ready())

        with self._errors():
            return await asyncio.to_thread(in_thread)

    # -- hooks -----------------------------------------------------------------------------------------
    async def _retrieve_events(self, sender_id: str) -> list[EventDict] | None:
        def work(engine: Engine) -> list[EventDict]:
            query = (
                sa.select(EVENTS_TABLE.c.data)
                .where(EVENTS_TABLE.c.sender_id == sender_id)
                .order_by(EVENTS_TABLE.c.id)
            )
            with engine.connect() as conn:
                return [fastjson.loads(data) for data in conn.execute(query).scalars()]

        return await self._run(work)

    async def _save(self, tracker: DialogueStateTracker) -> None:
        sender_id, events = tracker.sender_id, list(tracker.events)

        def work(engine: Engine) -> None:
            count = sa.select(sa.func.count()).select_from(EVENTS_TABLE).where(EVENTS_TABLE.c.sender_id == sender_id)
            with engine.connect() as conn:
                stored = conn.execute(count).scalar_one()
            new = events[stored:]
            if new:
                with engine.begin() as conn:
                    conn.execute(sa.insert(EVENTS_TABLE), [_event_row(sender_id, e) for e in new])

        await self._run(work)

    async def delete(self, sender_id: str) -> bool:
        def work(engine: Engine) -> bool:
            with engine.begin() as conn:
                result = conn.execute(sa.delete(EVENTS_TABLE).where(EVENTS_TABLE.c.sender_id == sender_id))
                return bool(result.rowcount)

        return await self._run(work)

    async def keys(self) -> list[str]:
        def work(engine: Engine) -> list[str]:
            with engine.connect() as conn:
                return list(conn.execute(sa.select(EVENTS_TABLE.c.sender_id).distinct()).scalars())

        return await self._run(work)

    async def close(self) -> None:
        engine, self._engine, self._ready = self._engine, None, False
        if engine is not None:
            await asyncio.to_thread(engine.dispose)


# -- Redis -----------------------------------------------------------------------------------------


class RedisTrackerStore(TrackerStore):
    """Conversations in Redis, in Rasa's layout: one JSON tracker per key.

    The key is ``tracker:<sender_id>``, or ``<key_prefix>:tracker:<sender_id>`` when a prefix is set,
    and the value is the tracker's state with every event (what Rasa writes), so Rasa and Kefu can read
    each other's conversations. With ``record_exp`` each save (re)sets the key's time to live.

    :param domain: the domain whose slot defaults rebuilt trackers start from
    :param settings: where Redis is (Rasa's ``url``, ``port``, ``db``, ``username``, ``password``, ``use_ssl``, ...)
    :param key_prefix: namespace for the keys
    :param record_exp: seconds a conversation is kept after its last save (None: forever)
    :param slot_defaults: the slot defaults themselves (instead of ``domain``)
    """

    def __init__(
        self,
        domain: Domain | None = None,
        *,
        settings: RedisSettings | None = None,
        key_prefix: str | None = None,
        record_exp: float | None = None,
        slot_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(domain, slot_defaults=slot_defaults)
        self.settings = settings or RedisSettings()
        self.key_prefix = f"{key_prefix}:{REDIS_TRACKER_KEY_PREFIX}" if key_prefix else REDIS_TRACKER_KEY_PREFIX
        self.record_exp = record_exp or None
        self._client = self.settings.create_client()

    def key(self, sender_id: str) -> str:
        """The Redis key holding ``sender_id``'s tracker."""
        return self.key_prefix + sender_id

    def describe(self) -> str:
        return f"Redis tracker store at {self.settings.describe()} (keys {self.key_prefix}*)"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        with redis_errors(TRACKER_STORE, self.settings):
            yield

    async def _retrieve_events(self, sender_id: str) -> list[EventDict] | None:
        with self._errors():
            stored = await self._client.get(self.key(sender_id))
        if stored is None:
            return None
        try:
            events = fastjson.loads(stored).get("events")
        except (ValueError, AttributeError) as error:
            raise StoreError(f"{self.describe()}: key {self.key(sender_id)!r} does not hold a JSON tracker ({error})") from None
        return list(events or [])

    async def _save(self, tracker: DialogueStateTracker) -> None:
        value = fastjson.dumps(tracker.current_state(INCLUDE_ALL))
        expire_ms = int(self.record_exp * 1000) if self.record_exp else None
        with self._errors():
            await self._client.set(self.key(tracker.sender_id), value, px=expire_ms)

    async def delete(self, sender_id: str) -> bool:
        with self._errors():
            return bool(await self._client.delete(self.key(sender_id)))

    async def keys(self) -> list[str]:
        start = len(self.key_prefix)
        with self._errors():
            return [key[start:] async for key in self._client.scan_iter(match=escape_glob(self.key_prefix) + "*", count=500)]

    async def close(self) -> None:
        await self._client.aclose()
