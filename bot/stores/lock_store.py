"""Lock stores: one conversation's turns run one at a time, in arrival order.

A turn reads the tracker, runs actions and saves it; two turns of one conversation must not
interleave, or events get lost or mixed. The turn loop wraps each turn in::

    async with lock_store.lock(sender_id):
        tracker = await tracker_store.get_or_create_tracker(sender_id)
        ...
        await tracker_store.save(tracker)

- :class:`InMemoryLockStore` (default): one ``asyncio.Lock`` per conversation, for one process.
- :class:`RedisLockStore` (``type: redis``): a FIFO ticket lock in Redis, safe across any number of
  Kefu processes. A holder that crashes loses the lock after ``lock_lifetime``; a waiter that
  crashes is skipped after a few missed heartbeats; a waiter is woken as soon as its turn comes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from bot.stores.constants import (
    DEFAULT_LOCK_HEARTBEAT_INTERVAL,
    DEFAULT_LOCK_LIFETIME,
    DEFAULT_LOCK_WAIT_TIMEOUT,
    LOCK_WAITER_TTL_HEARTBEATS,
    REDIS_LOCK_KEY_PREFIX,
)
from bot.stores.errors import LockTimeoutError, StoreError, StoreUnavailableError
from bot.stores.redis_connection import RedisSettings, redis_errors

logger = logging.getLogger(__name__)

SelfLockStore = TypeVar("SelfLockStore", bound="LockStore")

LOCK_STORE = "lock store"


def _check_seconds(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    return value


class LockStore(ABC):
    """Per-conversation locks: ``async with lock_store.lock(sender_id): ...``.

    :param lock_lifetime: default seconds a holder may keep a lock before others may take it
    :param wait_timeout: default seconds ``lock`` waits before raising
        :class:`~bot.stores.errors.LockTimeoutError` (``math.inf``: wait forever)
    """

    def __init__(
        self, lock_lifetime: float = DEFAULT_LOCK_LIFETIME, wait_timeout: float = DEFAULT_LOCK_WAIT_TIMEOUT
    ) -> None:
        self.lock_lifetime = _check_seconds("lock_lifetime", lock_lifetime)
        self.wait_timeout = _check_seconds("wait_timeout", wait_timeout)

    @asynccontextmanager
    async def lock(
        self, sender_id: str, lock_lifetime: float | None = None, wait_timeout: float | None = None
    ) -> AsyncIterator[None]:
        """Hold ``sender_id``'s lock for the block; waiters get it in the order they asked.

        :param sender_id: the conversation
        :param lock_lifetime: seconds this holder may keep it (default: the store's)
        :param wait_timeout: seconds to wait for it (default: the store's)
        :raises LockTimeoutError: the lock did not come free in time
        :raises StoreUnavailableError: the lock's backend cannot be reached
        """
        lifetime = _check_seconds("lock_lifetime", lock_lifetime or self.lock_lifetime)
        wait = _check_seconds("wait_timeout", wait_timeout or self.wait_timeout)
        token = await self._acquire(sender_id, lifetime, wait)
        try:
            yield
        except BaseException:
            with suppress(StoreError):  # keep the block's own error; the lock expires anyway
                await self._release(sender_id, token)
            raise
        try:
            await self._release(sender_id, token)
        except StoreError as error:
            # The block's work is done (and saved); failing now would make the caller repeat it.
            logger.warning("could not release the lock of conversation %r (it expires in %g s): %s",
                           sender_id, lifetime, error)

    @abstractmethod
    async def _acquire(self, sender_id: str, lock_lifetime: float, wait_timeout: float) -> str:
        """Wait for the lock and take it; return a token that identifies this holder."""

    @abstractmethod
    async def _release(self, sender_id: str, token: str) -> None:
        """Give the lock back (or leave the queue, for a waiter that gave up)."""

    @abstractmethod
    async def delete(self, sender_id: str) -> bool:
        """Remove every trace of the conversation's lock; True if there was any."""

    async def close(self) -> None:  # noqa: B027 - a store without connections has nothing to close
        """Release connections; the store must not be used afterwards."""

    def describe(self) -> str:
        return type(self).__name__

    async def __aenter__(self: SelfLockStore) -> SelfLockStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


# -- in memory -------------------------------------------------------------------------------------


@dataclass
class _LocalLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holder + waiters; the entry goes when this drops to 0


class InMemoryLockStore(LockStore):
    """One ``asyncio.Lock`` per conversation (FIFO), removed when nobody holds or waits for it.

    Good for one process only. ``lock_lifetime`` is not enforced: a holder in this process always
    releases (or the process, and its locks, are gone).

    :param lock_lifetime: accepted for symmetry with :class:`RedisLockStore`
    :param wait_timeout: default seconds ``lock`` waits
    """

    def __init__(
        self, lock_lifetime: float = DEFAULT_LOCK_LIFETIME, wait_timeout: float = DEFAULT_LOCK_WAIT_TIMEOUT
    ) -> None:
        super().__init__(lock_lifetime, wait_timeout)
        self._locks: dict[str, _LocalLock] = {}

    def __len__(self) -> int:
        """How many conversations have a holder or waiters right now."""
        return len(self._locks)

    def _leave(self, sender_id: str, entry: _LocalLock) -> None:
        entry.users -= 1
        if entry.users == 0 and self._locks.get(sender_id) is entry:
            del self._locks[sender_id]

    async def _acquire(self, sender_id: str, lock_lifetime: float, wait_timeout: float) -> str:
        entry = self._locks.setdefault(sender_id, _LocalLock())
        entry.users += 1
        try:
            async with asyncio.timeout(None if math.isinf(wait_timeout) else wait_timeout):
                await entry.lock.acquire()
        except TimeoutError:
            self._leave(sender_id, entry)
            raise LockTimeoutError(sender_id, wait_timeout) from None
        except BaseException:
            self._leave(sender_id, entry)
            raise
        return sender_id

    async def _release(self, sender_id: str, token: str) -> None:
        entry = self._locks.get(sender_id)
        if entry is None or not entry.lock.locked():
            return
        entry.lock.release()
        self._leave(sender_id, entry)

    async def delete(self, sender_id: str) -> bool:
        """Nothing of a free lock is kept, so this only reports whether the lock is free (False) or busy."""
        return sender_id in self._locks

    def describe(self) -> str:
        return "in-memory lock store"


# -- Redis -----------------------------------------------------------------------------------------
#
# Per conversation (<p> is "lock:" or "<key_prefix>:lock:"):
#   <p>queue:<sender_id>     ZSET  token -> ticket number; the lowest ticket holds the lock
#   <p>deadline:<sender_id>  HASH  token -> ms (Redis clock) after which the entry counts as dead:
#                                  a holder's lock_lifetime, a waiter's last heartbeat + its ttl
#   <p>ticket:<sender_id>    INCR  counter handing out ticket numbers
#   <p>wake:<token>          LIST  a waiter BLPOPs here; whoever makes it the head pushes to it
# All changes are Lua scripts (atomic) that read time from Redis (one clock for all processes).
# No lost wake-up: a waiter checks its place and then BLPOPs a list, and a push made between the
# two stays in the list. The keys disappear when the queue empties and expire if everyone died.

_LUA_COMMON = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Drop dead entries from the head; return the live head (or nil) and whether any was dropped.
local function purge(queue, deadlines, now)
  local dropped = false
  while true do
    local head = redis.call('ZRANGE', queue, 0, 0)[1]
    if not head then return nil, dropped end
    local deadline = tonumber(redis.call('HGET', deadlines, head))
    if deadline and deadline > now then return head, dropped end
    redis.call('ZREM', queue, head)
    redis.call('HDEL', deadlines, head)
    dropped = true
  end
end

local function wake(wake_prefix, token)
  redis.call('RPUSH', wake_prefix .. token, '1')
  redis.call('PEXPIRE', wake_prefix .. token, 300000)
end

-- Let the conversation's keys live at least `ms` more (never shorten: another entry may need longer).
local function keep(ms)
  for i = 1, 3 do
    if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
  end
end

-- Take the lock if `token` is at the head, else renew its heartbeat. Returns {status, head_ms_left}:
-- 1 = acquired, 0 = waiting, -1 = not in the queue (it was dropped as dead).
local function poll(token, waiter_ttl, lifetime, wake_prefix, now)
  local head, dropped = purge(KEYS[1], KEYS[2], now)
  if not redis.call('ZSCORE', KEYS[1], token) then
    if head and dropped then wake(wake_prefix, head) end
    return {-1, 0}
  end
  if head == token then
    redis.call('HSET', KEYS[2], token, now + lifetime)
    keep(lifetime + 60000)
    return {1, 0}
  end
  if dropped then wake(wake_prefix, head) end
  redis.call('HSET', KEYS[2], token, now + waiter_ttl)
  keep(waiter_ttl + 60000)
  return {0, tonumber(redis.call('HGET', KEYS[2], head)) - now}
end
"""

# KEYS: queue, deadlines, ticket. ARGV: token, waiter_ttl_ms, lifetime_ms, wake_prefix
_LUA_ENQUEUE = _LUA_COMMON + """
local now = now_ms()
local token, waiter_ttl = ARGV[1], tonumber(ARGV[2])
local ticket = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], ticket, token)
redis.call('HSET', KEYS[2], token, now + waiter_ttl)
return poll(token, waiter_ttl, tonumber(ARGV[3]), ARGV[4], now)
"""

# KEYS: queue, deadlines, ticket. ARGV: token, waiter_ttl_ms, lifetime_ms, wake_prefix
_LUA_POLL = _LUA_COMMON + """
return poll(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], now_ms())
"""

# KEYS: queue, deadlines, ticket. ARGV: token, wake_prefix. Returns 1 if the token was still queued.
_LUA_RELEASE = _LUA_COMMON + """
local token, wake_prefix = ARGV[1], ARGV[2]
local old_head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
local removed = redis.call('ZREM', KEYS[1], token)
redis.call('HDEL', KEYS[2], token)
redis.call('DEL', wake_prefix .. token)
local head, dropped = purge(KEYS[1], KEYS[2], now_ms())
if not head then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
elseif old_head == token or dropped then
  wake(wake_prefix, head)
end
return removed
"""

# KEYS: queue, deadlines, ticket. ARGV: wake_prefix. Returns how many keys were deleted.
_LUA_DELETE = """
local deleted = 0
for _, token in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  deleted = deleted + redis.call('DEL', ARGV[1] .. token)
end
return deleted + redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
"""

_ACQUIRED, _WAITING, _DROPPED = 1, 0, -1
_MIN_BLOCK = 0.01  # seconds; BLPOP's 0 would mean "forever"
_RELEASE_RETRY_FIRST = 0.1  # seconds before a failed release is tried again (doubling up to the cap)
_RELEASE_RETRY_CAP = 1.0


class RedisLockStore(LockStore):
    """A fair (FIFO) ticket lock per conversation in Redis, safe across several Kefu processes.

    Each ``lock()`` takes a ticket; the lowest live ticket holds the lock. The holder's entry
    expires after ``lock_lifetime`` (a crashed holder blocks nobody for longer), and waiters renew
    theirs every ``heartbeat_interval`` (a crashed waiter is skipped after
    ``5 × heartbeat_interval``). A release wakes the next waiter at once through a Redis list it is
    blocked on. Needs Redis 6 or newer; standalone or a primary (not Redis Cluster).

    Each waiting turn holds one Redis connection (blocked in BLPOP) while it waits.

    A release that cannot reach Redis is retried in the background until Redis answers or the
    holder's ``lock_lifetime`` has passed: a Redis that comes back with its data (a restart with
    persistence, a failover) must not keep the conversation locked by a turn that is long over.

    :param settings: where Redis is (Rasa's ``url``, ``port``, ``db``, ``password``, ``use_ssl``, ``socket_timeout``, ...)
    :param key_prefix: namespace for the keys (``<key_prefix>:lock:...``; default ``lock:...``)
    :param lock_lifetime: default seconds a holder may keep a lock
    :param wait_timeout: default seconds ``lock`` waits
    :param heartbeat_interval: seconds between a waiter's liveness updates (and its longest sleep)
    """

    def __init__(
        self,
        settings: RedisSettings | None = None,
        *,
        key_prefix: str | None = None,
        lock_lifetime: float = DEFAULT_LOCK_LIFETIME,
        wait_timeout: float = DEFAULT_LOCK_WAIT_TIMEOUT,
        heartbeat_interval: float = DEFAULT_LOCK_HEARTBEAT_INTERVAL,
    ) -> None:
        super().__init__(lock_lifetime, wait_timeout)
        self.settings = settings or RedisSettings()
        self.key_prefix = f"{key_prefix}:{REDIS_LOCK_KEY_PREFIX}" if key_prefix else REDIS_LOCK_KEY_PREFIX
        self.heartbeat_interval = _check_seconds("heartbeat_interval", heartbeat_interval)
        self._client = self.settings.create_client()
        self._enqueue = self._client.register_script(_LUA_ENQUEUE)
        self._poll = self._client.register_script(_LUA_POLL)
        self._release_script = self._client.register_script(_LUA_RELEASE)
        self._delete_script = self._client.register_script(_LUA_DELETE)
        self._lifetimes: dict[str, float] = {}  # token -> lock_lifetime, for each lock held now
        self._pending_releases: set[asyncio.Task[None]] = set()

    def keys_of(self, sender_id: str) -> list[str]:
        """The conversation's queue, deadline and ticket keys (wake keys are per waiter)."""
        p = self.key_prefix
        return [f"{p}queue:{sender_id}", f"{p}deadline:{sender_id}", f"{p}ticket:{sender_id}"]

    @property
    def _wake_prefix(self) -> str:
        return f"{self.key_prefix}wake:"

    def describe(self) -> str:
        return f"Redis lock store at {self.settings.describe()} (keys {self.key_prefix}*)"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        with redis_errors(LOCK_STORE, self.settings):
            yield

    async def queue_length(self, sender_id: str) -> int:
        """How many turns of the conversation hold or wait for its lock (dead ones included until skipped)."""
        with self._errors():
            return int(await self._client.zcard(self.keys_of(sender_id)[0]))

    def _block_seconds(self, remaining: float, head_ms_left: int) -> float:
        block = min(remaining, self.heartbeat_interval, max(head_ms_left / 1000, _MIN_BLOCK))
        if self.settings.socket_timeout is not None:  # the socket must not time out under BLPOP
            block = min(block, self.settings.socket_timeout * 0.8)
        return max(block, _MIN_BLOCK)

    async def _acquire(self, sender_id: str, lock_lifetime: float, wait_timeout: float) -> str:
        token = uuid.uuid4().hex
        keys = self.keys_of(sender_id)
        args: list[Any] = [
            token,
            max(1, int(self.heartbeat_interval * LOCK_WAITER_TTL_HEARTBEATS * 1000)),
            max(1, int(lock_lifetime * 1000)),
            self._wake_prefix,
        ]
        wake_key = self._wake_prefix + token
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + wait_timeout
        acquired = False
        try:
            with self._errors():
                status, head_ms_left = await self._enqueue(keys=keys, args=args)
                while status != _ACQUIRED:
                    if status == _DROPPED:  # we stalled past our heartbeat and were skipped: queue again
                        status, head_ms_left = await self._enqueue(keys=keys, args=args)
                        continue
                    remaining = give_up_at - loop.time()
                    if remaining <= 0:
                        raise LockTimeoutError(sender_id, wait_timeout)
                    await self._client.blpop([wake_key], timeout=self._block_seconds(remaining, head_ms_left))
                    status, head_ms_left = await self._poll(keys=keys, args=args)
            acquired = True
            self._lifetimes[token] = lock_lifetime
            return token
        finally:
            if not acquired:  # timed out, cancelled or failed: leave the queue so nobody waits for us
                try:
                    await asyncio.shield(self._release_script(keys=keys, args=[token, self._wake_prefix]))
                except Exception:  # the original error matters more: retry in the background
                    # the enqueue may have reached Redis although its reply did not come back
                    self._release_later(sender_id, token, lock_lifetime)

    async def _release(self, sender_id: str, token: str) -> None:
        lifetime = self._lifetimes.pop(token, self.lock_lifetime)
        try:
            with self._errors():
                removed = await self._release_script(keys=self.keys_of(sender_id), args=[token, self._wake_prefix])
        except StoreUnavailableError:
            self._release_later(sender_id, token, lifetime)
            raise
        if not removed:
            logger.warning(
                "the lock of conversation %r was held longer than its lock_lifetime; another turn may have "
                "run meanwhile", sender_id,
            )

    def _release_later(self, sender_id: str, token: str, lifetime: float) -> None:
        """Retry a release that failed, in the background, until it succeeds or ``lifetime`` has passed."""
        task = asyncio.get_running_loop().create_task(self._retry_release(sender_id, token, lifetime))
        self._pending_releases.add(task)
        task.add_done_callback(self._pending_releases.discard)

    async def _retry_release(self, sender_id: str, token: str, lifetime: float) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + lifetime
        delay = _RELEASE_RETRY_FIRST
        while loop.time() + delay < give_up_at:
            await asyncio.sleep(delay)
            try:
                await self._release_script(keys=self.keys_of(sender_id), args=[token, self._wake_prefix])
            except Exception as error:  # still unreachable (or worse): try again later
                logger.debug("releasing the lock of conversation %r failed again: %s", sender_id, error)
                delay = min(delay * 2, _RELEASE_RETRY_CAP)
                continue
            logger.info("released the lock of conversation %r once Redis answered again", sender_id)
            return

    async def delete(self, sender_id: str) -> bool:
        """Remove the conversation's lock keys, including those of crashed holders and waiters.

        Turns still waiting queue again; a turn still holding the lock is no longer protected, so
        call this after the conversation's turns are done (e.g. after deleting its tracker).
        """
        with self._errors():
            return bool(await self._delete_script(keys=self.keys_of(sender_id), args=[self._wake_prefix]))

    async def close(self) -> None:
        for task in list(self._pending_releases):
            task.cancel()
        await asyncio.gather(*self._pending_releases, return_exceptions=True)
        await self._client.aclose()
