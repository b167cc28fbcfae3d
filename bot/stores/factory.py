"""Build the tracker store and the lock store from endpoints.yml's ``tracker_store:`` / ``lock_store:``.

``type`` picks the store (case-insensitive, as in Rasa): ``in_memory`` (also when the section or its
``type`` is missing), ``sql``, ``redis``, or the dotted path of a class of your own
(``type: mypkg.stores.MyTrackerStore``), which gets ``domain=`` and the section's other keys.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, TypeVar

from bot.domain import Domain
from bot.stores.constants import (
    DEFAULT_LOCK_HEARTBEAT_INTERVAL,
    DEFAULT_LOCK_LIFETIME,
    DEFAULT_LOCK_WAIT_TIMEOUT,
    DEFAULT_SQL_DB,
    DEFAULT_SQL_DIALECT,
    IN_MEMORY_STORE,
    LOCK_STORE_SECTION,
    LOCK_STORE_TYPES,
    REDIS_STORE,
    SQL_STORE,
    TRACKER_STORE_SECTION,
    TRACKER_STORE_TYPES,
)
from bot.stores.endpoint_section import EndpointSection
from bot.stores.errors import StoreError
from bot.stores.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from bot.stores.redis_connection import REDIS_CONNECTION_KEYS, RedisSettings
from bot.stores.tracker_store import InMemoryTrackerStore, RedisTrackerStore, SQLTrackerStore, TrackerStore

T = TypeVar("T")

SQL_KEYS = ("url", "host", "dialect", "port", "db", "username", "password", "login_db", "query")
REDIS_TRACKER_KEYS = (*REDIS_CONNECTION_KEYS, "key_prefix", "record_exp")
LOCK_KEYS = ("lock_lifetime", "wait_timeout")
REDIS_LOCK_KEYS = (*REDIS_CONNECTION_KEYS, "key_prefix", *LOCK_KEYS, "heartbeat_interval")


def create_tracker_store(
    config: Mapping[str, Any] | None, domain: Domain | None = None, *, path: str = "endpoints.yml"
) -> TrackerStore:
    """The tracker store that endpoints.yml's ``tracker_store:`` section describes.

    :param config: the section (None when endpoints.yml has none: in-memory)
    :param domain: the domain whose slot defaults rebuilt trackers start from
    :param path: the endpoints file, for messages
    :raises StoreConfigError: unknown type or a value of the wrong kind, naming the key
    """
    section = EndpointSection(TRACKER_STORE_SECTION, config, path)
    kind = section.type
    name = (kind or IN_MEMORY_STORE).lower()
    if name == IN_MEMORY_STORE:
        section.warn_unknown((), "the in-memory tracker store")
        return InMemoryTrackerStore(domain)
    if name == SQL_STORE:
        section.warn_unknown(SQL_KEYS, "the SQL tracker store")
        url = section.get_str("url")
        full_url = url if url and "://" in url else None
        try:
            return SQLTrackerStore(
                domain,
                url=full_url,
                dialect=section.get_str("dialect", DEFAULT_SQL_DIALECT) or DEFAULT_SQL_DIALECT,
                host=section.get_str("host") or (None if full_url else url),
                port=section.get_int("port"),
                db=section.get_str("db", DEFAULT_SQL_DB) or DEFAULT_SQL_DB,
                username=section.get_str("username"),
                password=section.get_str("password"),
                login_db=section.get_str("login_db"),
                query=section.get_dict("query"),
            )
        except StoreError as error:
            raise section.error("url" if url else "dialect", str(error)) from None
    if name == REDIS_STORE:
        section.warn_unknown(REDIS_TRACKER_KEYS, "the Redis tracker store")
        return RedisTrackerStore(
            domain,
            settings=RedisSettings.from_section(section),
            key_prefix=section.get_str("key_prefix"),
            record_exp=section.get_float("record_exp"),
        )
    kwargs = {k: v for k, v in section.config.items() if k != "type"}
    return _custom(section, str(kind), TrackerStore, TRACKER_STORE_TYPES, domain=domain, **kwargs)


def create_lock_store(config: Mapping[str, Any] | None, *, path: str = "endpoints.yml") -> LockStore:
    """The lock store that endpoints.yml's ``lock_store:`` section describes.

    Besides Rasa's keys, ``lock_lifetime`` and ``wait_timeout`` (seconds) set the defaults of
    ``lock()``, and ``heartbeat_interval`` how often a Redis waiter proves it is alive.

    :param config: the section (None when endpoints.yml has none: in-memory)
    :param path: the endpoints file, for messages
    :raises StoreConfigError: unknown type or a value of the wrong kind, naming the key
    """
    section = EndpointSection(LOCK_STORE_SECTION, config, path)
    kind = section.type
    name = (kind or IN_MEMORY_STORE).lower()
    timing = {
        "lock_lifetime": _positive(section, "lock_lifetime", DEFAULT_LOCK_LIFETIME),
        "wait_timeout": _positive(section, "wait_timeout", DEFAULT_LOCK_WAIT_TIMEOUT),
    }
    if name == IN_MEMORY_STORE:
        section.warn_unknown(LOCK_KEYS, "the in-memory lock store")
        return InMemoryLockStore(**timing)
    if name == REDIS_STORE:
        section.warn_unknown(REDIS_LOCK_KEYS, "the Redis lock store")
        return RedisLockStore(
            RedisSettings.from_section(section),
            key_prefix=section.get_str("key_prefix"),
            heartbeat_interval=_positive(section, "heartbeat_interval", DEFAULT_LOCK_HEARTBEAT_INTERVAL),
            **timing,
        )
    kwargs = {k: v for k, v in section.config.items() if k != "type"}
    return _custom(section, str(kind), LockStore, LOCK_STORE_TYPES, **kwargs)


def _positive(section: EndpointSection, key: str, default: float) -> float:
    value = section.get_float(key, default)
    if not value:
        raise section.error(key, f"expected a number of seconds > 0, got {section.config.get(key)!r}")
    return value


def _custom(
    section: EndpointSection, kind: str, base: type[T], builtin: tuple[str, ...], **kwargs: Any
) -> T:
    """An instance of the class that ``type: pkg.module.Class`` names, checked to be a ``base``."""
    allowed = f"expected one of {', '.join(builtin)} or the dotted path of a {base.__name__} subclass"
    module_name, _, class_name = kind.rpartition(".")
    if not module_name:
        raise section.error("type", f"unknown store '{kind}' ({allowed})")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as error:
        raise section.error("type", f"cannot import module '{module_name}' for store '{kind}': {error}") from None
    except AttributeError:
        raise section.error("type", f"module '{module_name}' has no class '{class_name}' ({allowed})") from None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise section.error("type", f"'{kind}' is not a {base.__name__} subclass ({allowed})")
    try:
        return cls(**kwargs)
    except TypeError as error:
        keys = ", ".join(sorted(kwargs)) or "no keys"
        raise section.error("type", f"cannot create {kind} from {keys}: {error}") from None
