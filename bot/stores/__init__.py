"""Tracker stores and lock stores, built from endpoints.yml (no aiohttp here)."""

from bot.stores.errors import (
    LockError,
    LockTimeoutError,
    StoreConfigError,
    StoreError,
    StoreUnavailableError,
)
from bot.stores.factory import create_lock_store, create_tracker_store
from bot.stores.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from bot.stores.redis_connection import RedisSettings
from bot.stores.tracker_store import (
    InMemoryTrackerStore,
    RedisTrackerStore,
    SQLTrackerStore,
    TrackerStore,
)

__all__ = [
    "InMemoryLockStore",
    "InMemoryTrackerStore",
    "LockError",
    "LockStore",
    "LockTimeoutError",
    "RedisLockStore",
    "RedisSettings",
    "RedisTrackerStore",
    "SQLTrackerStore",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailableError",
    "TrackerStore",
    "create_lock_store",
    "create_tracker_store",
]
