"""Lock stores: mutual exclusion, FIFO order, crash tolerance, and a Redis lock shared by two OS processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from bot import events as ev
from bot.stores import (
    InMemoryLockStore,
    LockStore,
    LockTimeoutError,
    RedisLockStore,
    StoreConfigError,
    StoreUnavailableError,
    TrackerStore,
    create_lock_store,
    create_tracker_store,
)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


def redis_lock_section(redis_url: str, **extra: Any) -> dict[str, Any]:
    """Rasa's keys for a lock store on the Redis behind ``redis_url``, with a fresh key prefix."""
    parts = urlsplit(redis_url)
    return {"type": "redis", "url": parts.hostname, "port": parts.port or 6379,
            "db": int(parts.path.strip("/") or 0), "key_prefix": f"lk{uuid.uuid4().hex[:10]}", **extra}


async def hammer(store: LockStore, client: aioredis.Redis, sender_id: str, keys: dict[str, str],
                 workers: int, iterations: int, label: str) -> None:
    """``workers`` coroutines each take the lock ``iterations`` times and do a racy read-modify-write.

    Without mutual exclusion ``inside`` exceeds 1 (counted in ``overlaps``) and increments of ``total`` get lost.
    """
    async def worker() -> None:
        for _ in range(iterations):
            async with store.lock(sender_id, lock_lifetime=30, wait_timeout=20):
                if await client.incr(keys["inside"]) != 1:
                    await client.incr(keys["overlaps"])
                value = int(await client.get(keys["total"]) or 0)
                await client.rpush(keys["order"], label)
                await asyncio.sleep(0.002)
                await client.set(keys["total"], value + 1)
                await client.decr(keys["inside"])

    await asyncio.gather(*(worker() for _ in range(workers)))


async def run_turns(lock_store: LockStore, tracker_store: TrackerStore, sender_id: str, count: int, label: str) -> None:
    """``count`` concurrent turns of one conversation, as the server runs them: lock, read, add events, save."""
    async def turn(n: int) -> None:
        async with lock_store.lock(sender_id, wait_timeout=30):
            tracker = await tracker_store.get_or_create_tracker(sender_id)
            tracker.update(ev.UserUttered(f"{label}-{n}"))
            await asyncio.sleep(0.001)
            tracker.update(ev.BotUttered(f"re: {label}-{n}"))
            tracker.update(ev.ActionExecuted("action_listen"))
            await tracker_store.save(tracker)

    await asyncio.gather(*(turn(n) for n in range(count)))


async def child_main(spec_json: str) -> None:
    """Entry point of the second OS process (see :func:`spawn`)."""
    spec = json.loads(spec_json)
    store = create_lock_store(spec["lock_store"])
    if spec["mode"] == "turns":
        tracker_store = create_tracker_store(spec["tracker_store"])
        client = aioredis.Redis.from_url(spec["redis_url"], decode_responses=True)
        print("ready", flush=True)
        await client.blpop([spec["go"]], timeout=20)
        await run_turns(store, tracker_store, spec["sender_id"], spec["count"], "child")
        await tracker_store.close()
        print("done", flush=True)
    elif spec["mode"] == "hammer":
        client = aioredis.Redis.from_url(spec["redis_url"], decode_responses=True)
        print("ready", flush=True)
        await client.blpop([spec["keys"]["go"]], timeout=20)
        await hammer(store, client, spec["sender_id"], spec["keys"], spec["workers"], spec["iterations"], "child")
        print("done", flush=True)
    else:  # "hold": take the lock (or wait for it) and never let go: the test kills us
        async with store.lock(spec["sender_id"], lock_lifetime=spec["lock_lifetime"], wait_timeout=60):
            print("held", flush=True)
            await asyncio.sleep(3600)


async def spawn(spec: dict[str, Any]) -> asyncio.subprocess.Process:
    """Run :func:`child_main` in a new Python process."""
    code = ("import asyncio, sys; sys.path.insert(0, sys.argv[1]); import test_lock_stores as t; "
            "asyncio.run(t.child_main(sys.argv[2]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(HERE), json.dumps(spec), cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def expect_line(child: asyncio.subprocess.Process, text: str, timeout: float = 15) -> None:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout)
    if line.decode().strip() != text:
        err = await child.stderr.read() if child.stderr else b""
        pytest.fail(f"child said {line!r} instead of {text!r}:\n{err.decode()[-3000:]}")


async def kill(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.send_signal(signal.SIGKILL)
    await child.wait()


async def until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@asynccontextmanager
async def opened_redis_lock(redis_url: str, section: dict[str, Any]) -> AsyncIterator[RedisLockStore]:
    """The lock store of ``section``; every key under its prefix is removed afterwards."""
    store = create_lock_store(section)
    assert isinstance(store, RedisLockStore)
    try:
        yield store
    finally:
        await store.close()
        async with aioredis.Redis.from_url(redis_url, decode_responses=True) as client:
            leftovers = [key async for key in client.scan_iter(match=store.key_prefix + "*")]
            if leftovers:
                await client.delete(*leftovers)


@pytest.fixture
async def redis_lock(redis_url: str) -> AsyncIterator[RedisLockStore]:
    async with opened_redis_lock(redis_url, redis_lock_section(redis_url, heartbeat_interval=0.2)) as store:
        yield store


async def lock_keys(client: aioredis.Redis, store: RedisLockStore) -> list[str]:
    return [key async for key in client.scan_iter(match=store.key_prefix + "*")]


# -- both stores -------------------------------------------------------------------------------------


@pytest.fixture(params=["in_memory", "redis"])
async def any_lock(request: pytest.FixtureRequest) -> AsyncIterator[LockStore]:
    if request.param == "in_memory":
        yield InMemoryLockStore()
        return
    redis_url = request.getfixturevalue("redis_url")
    async with opened_redis_lock(redis_url, redis_lock_section(redis_url, heartbeat_interval=0.2)) as store:
        yield store


async def test_lock_excludes_and_serves_in_arrival_order(any_lock: LockStore) -> None:
    order: list[int] = []
    inside = 0
    overlaps = 0
    holder_in = asyncio.Event()
    release_holder = asyncio.Event()

    async def holder() -> None:
        nonlocal inside
        async with any_lock.lock("c"):
            inside += 1
            holder_in.set()
            await release_holder.wait()
            await asyncio.sleep(0.05)  # still inside after the waiters were told to go
            inside -= 1

    async def waiter(n: int) -> None:
        nonlocal inside, overlaps
        async with any_lock.lock("c"):
            inside += 1
            overlaps += inside > 1
            order.append(n)
            await asyncio.sleep(0.005)
            inside -= 1

    first = asyncio.create_task(holder())
    await holder_in.wait()
    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0.03)  # let waiter n queue before n + 1
    release_holder.set()
    await asyncio.wait_for(asyncio.gather(first, *tasks), 10)

    assert order == list(range(6))
    assert overlaps == 0


async def test_other_conversations_are_not_blocked(any_lock: LockStore) -> None:
    async with any_lock.lock("busy"):
        started = time.monotonic()
        async with any_lock.lock("free", wait_timeout=1):
            pass
        assert time.monotonic() - started < 0.5


async def test_wait_timeout_raises_and_leaves_the_queue(any_lock: LockStore) -> None:
    async with any_lock.lock("c"):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError, match="conversation 'c' is busy"):
            async with any_lock.lock("c", wait_timeout=0.3):
                pytest.fail("got a lock that is held")
        assert 0.25 < time.monotonic() - started < 2
        if isinstance(any_lock, RedisLockStore):
            assert await any_lock.queue_length("c") == 1  # only the holder: the timed-out ticket is gone
    async with any_lock.lock("c", wait_timeout=0.5):  # and nobody waits for the one that gave up
        pass


async def test_cancelled_waiter_does_not_block_the_next(any_lock: LockStore) -> None:
    async with any_lock.lock("c"):
        waiting = asyncio.create_task(any_lock.lock("c").__aenter__())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    started = time.monotonic()
    async with any_lock.lock("c", wait_timeout=2):
        assert time.monotonic() - started < 0.5


async def test_error_in_the_block_releases_the_lock(any_lock: LockStore) -> None:
    with pytest.raises(ZeroDivisionError):
        async with any_lock.lock("c"):
            1 / 0  # noqa: B018
    async with any_lock.lock("c", wait_timeout=0.5):
        pass


async def test_in_memory_locks_are_dropped_when_free() -> None:
    store = InMemoryLockStore()
    async with store.lock("a"), store.lock("b"):
        assert len(store) == 2 and await store.delete("a") is True
    assert len(store) == 0
    assert await store.delete("a") is False


# -- Redis -------------------------------------------------------------------------------------------


async def test_redis_lock_keys_disappear_after_release(redis_lock: RedisLockStore, redis_client: aioredis.Redis) -> None:
    async with redis_lock.lock("c"):
        keys = await lock_keys(redis_client, redis_lock)
        assert set(redis_lock.keys_of("c")) <= set(keys)
        assert all([await redis_client.pttl(key) > 0 for key in keys])  # a crashed process leaves nothing forever
    assert await lock_keys(redis_client, redis_lock) == []


async def test_redis_delete_removes_a_stale_lock(redis_lock: RedisLockStore, redis_client: aioredis.Redis) -> None:
    abandoned = redis_lock.lock("c", lock_lifetime=60)
    await abandoned.__aenter__()  # taken and never released, like a crashed holder
    with pytest.raises(LockTimeoutError):
        async with redis_lock.lock("c", wait_timeout=0.2):
            pass

    assert await redis_lock.delete("c") is True
    assert await lock_keys(redis_client, redis_lock) == []
    assert await redis_lock.delete("c") is False
    started = time.monotonic()
    async with redis_lock.lock("c", wait_timeout=1):
        assert time.monotonic() - started < 0.5


async def test_two_processes_share_one_lock(redis_url: str, redis_client: aioredis.Redis) -> None:
    """Another OS process and this one hammer one conversation: no overlap, no lost update, no lost wake-up.

    Waiters heartbeat only every 30 s here, so a single lost wake-up would stall the run far past its budget.
    """
    section = redis_lock_section(redis_url, heartbeat_interval=30, socket_timeout=60)
    run = uuid.uuid4().hex[:8]
    keys = {name: f"kefutest:{run}:{name}" for name in ("inside", "overlaps", "total", "order", "go")}
    workers, iterations = 4, 25
    spec = {"mode": "hammer", "lock_store": section, "redis_url": redis_url, "sender_id": "shared",
            "keys": keys, "workers": workers, "iterations": iterations}
    async with opened_redis_lock(redis_url, section) as store:
        child = await spawn(spec)
        try:
            await expect_line(child, "ready")
            started = time.monotonic()
            await redis_client.rpush(keys["go"], "1")
            await hammer(store, redis_client, "shared", keys, workers, iterations, "parent")
            await expect_line(child, "done", timeout=20)
            elapsed = time.monotonic() - started
            assert await child.wait() == 0

            order = await redis_client.lrange(keys["order"], 0, -1)
            assert int(await redis_client.get(keys["overlaps"]) or 0) == 0
            assert int(await redis_client.get(keys["total"])) == 2 * workers * iterations  # no lost update
            assert sorted(set(order)) == ["child", "parent"]
            assert sum(a != b for a, b in zip(order, order[1:], strict=False)) >= 10  # the processes interleaved
            assert elapsed < 8, f"took {elapsed:.1f} s: a waiter missed its wake-up"
            assert await store.queue_length("shared") == 0
            assert [k async for k in redis_client.scan_iter(match=store.key_prefix + "*")] == []
        finally:
            await kill(child)
            await redis_client.delete(*keys.values())


@pytest.mark.parametrize("tracker_kind", ["redis", "sqlite"])
async def test_two_processes_keep_every_turn_whole(
    tracker_kind: str, redis_url: str, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    """100 concurrent turns of one conversation over two processes: 100 user events, each followed by its own reply."""
    section = redis_lock_section(redis_url)
    if tracker_kind == "redis":
        parts = urlsplit(redis_url)
        tracker_config = {"type": "redis", "url": parts.hostname, "port": parts.port,
                          "db": int(parts.path.strip("/") or 0), "key_prefix": section["key_prefix"]}
    else:
        tracker_config = {"type": "sql", "db": str(tmp_path / "shared.db")}
    go = f"kefutest:{uuid.uuid4().hex[:8]}:go"
    spec = {"mode": "turns", "lock_store": section, "tracker_store": tracker_config, "redis_url": redis_url,
            "sender_id": "busy", "count": 50, "go": go}
    async with opened_redis_lock(redis_url, section) as lock_store, create_tracker_store(tracker_config) as trackers:
        child = await spawn(spec)
        try:
            await expect_line(child, "ready")
            await redis_client.rpush(go, "1")
            await run_turns(lock_store, trackers, "busy", 50, "parent")
            await expect_line(child, "done", timeout=30)
        finally:
            await kill(child)
            await redis_client.delete(go)
        tracker = await trackers.retrieve("busy")
        assert tracker is not None
        await trackers.delete("busy")

    events = tracker.events
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    assert len(users) == 100 and len(events) == 300
    assert {events[i]["text"] for i in users} == {f"{who}-{n}" for who in ("parent", "child") for n in range(50)}
    for i in users:  # each turn whole: its reply and action_listen before the next user message
        assert events[i + 1] == {**events[i + 1], "event": "bot", "text": f"re: {events[i]['text']}"}
        assert events[i + 2]["event"] == "action" and events[i + 2]["name"] == "action_listen"


async def test_crashed_holder_blocks_only_until_its_lifetime(redis_url: str) -> None:
    section = redis_lock_section(redis_url, heartbeat_interval=0.2)
    async with opened_redis_lock(redis_url, section) as store:
        child = await spawn({"mode": "hold", "lock_store": section, "sender_id": "c", "lock_lifetime": 1.5})
        try:
            await expect_line(child, "held")
            held_at = time.monotonic()
            await kill(child)  # a crash: the lock is never released
            with pytest.raises(LockTimeoutError):
                async with store.lock("c", wait_timeout=0.3):
                    pass
            async with store.lock("c", wait_timeout=5):
                waited = time.monotonic() - held_at
            assert 1.2 < waited < 3
        finally:
            await kill(child)


async def test_crashed_waiter_is_skipped(redis_url: str) -> None:
    section = redis_lock_section(redis_url, heartbeat_interval=0.1)  # a waiter is dead after 0.5 s of silence
    async with opened_redis_lock(redis_url, section) as store:
        child = await spawn({"mode": "hold", "lock_store": section, "sender_id": "c", "lock_lifetime": 30})
        try:
            async with store.lock("c"):
                await until(lambda: _queue_is(store, "c", 2))  # the child waits behind us
                await kill(child)
                behind = asyncio.create_task(store.lock("c", wait_timeout=5).__aenter__())
                await until(lambda: _queue_is(store, "c", 3))
            released_at = time.monotonic()
            await asyncio.wait_for(behind, 5)
            assert time.monotonic() - released_at < 1.5  # skipped the dead waiter once its heartbeat lapsed
        finally:
            await kill(child)


async def _queue_is(store: RedisLockStore, sender_id: str, n: int) -> bool:
    return await store.queue_length(sender_id) == n


async def test_unreachable_redis_raises_store_unavailable_quickly(unused_tcp_port: int) -> None:
    store = create_lock_store({"type": "redis", "url": "127.0.0.1", "port": unused_tcp_port, "socket_timeout": 0.5})
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"lock store unavailable: cannot reach redis://127.0.0.1:{unused_tcp_port}/0"):
        async with store.lock("c"):
            pytest.fail("locked without Redis")
    assert time.monotonic() - started < 2
    with pytest.raises(StoreUnavailableError):
        await store.delete("c")
    await store.close()


async def test_redis_lock_recovers_when_redis_comes_back(redis_server_factory: Any) -> None:
    server = redis_server_factory()
    store = create_lock_store({"type": "redis", "url": "127.0.0.1", "port": server.port, "socket_timeout": 1})
    async with store.lock("c"):
        pass
    server.stop()
    with pytest.raises(StoreUnavailableError):
        async with store.lock("c"):
            pass
    server.start()
    async with store.lock("c", wait_timeout=2):
        pass
    await store.close()


# -- factory -----------------------------------------------------------------------------------------


async def test_factory_builds_each_lock_store() -> None:
    assert isinstance(create_lock_store(None), InMemoryLockStore)
    memory = create_lock_store({"type": "in_memory", "wait_timeout": 5})
    assert isinstance(memory, InMemoryLockStore) and memory.wait_timeout == 5
    store = create_lock_store({"type": "REDIS", "url": "cache", "port": "6380", "db": 1, "key_prefix": "shop",
                               "socket_timeout": "10", "lock_lifetime": "30", "heartbeat_interval": 0.5})
    assert isinstance(store, RedisLockStore)
    assert (store.settings.host, store.settings.port, store.settings.db) == ("cache", 6380, 1)
    assert store.key_prefix == "shop:lock:" and store.keys_of("u")[0] == "shop:lock:queue:u"
    assert (store.lock_lifetime, store.heartbeat_interval, store.settings.socket_timeout) == (30.0, 0.5, 10.0)
    await store.close()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "zookeeper"}, r"lock_store.type: unknown store 'zookeeper' \(expected one of in_memory, redis "
                                r"or the dotted path of a LockStore subclass\)"),
        ({"type": "bot.stores.InMemoryTrackerStore"}, r"lock_store.type: .* is not a LockStore subclass"),
        ({"type": "redis", "lock_lifetime": 0}, r"lock_store.lock_lifetime: expected a number of seconds > 0"),
        ({"type": "redis", "socket_timeout": "soon"}, r"lock_store.socket_timeout: expected a number"),
    ],
)
def test_factory_rejects_bad_config_naming_the_key(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(StoreConfigError, match=expected):
        create_lock_store(config)


def test_factory_loads_a_custom_lock_store() -> None:
    store = create_lock_store({"type": "bot.stores.InMemoryLockStore", "lock_lifetime": 5})
    assert isinstance(store, InMemoryLockStore) and store.lock_lifetime == 5
