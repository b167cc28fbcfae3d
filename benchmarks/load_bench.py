"""Server load benchmark: real ``kefu run`` processes on loopback, driven by simulated shoppers.

Run from the repository root (a trained demo model in ``models/``: ``kefu train``)::

    .venv/bin/python benchmarks/load_bench.py                  # everything: ~8 min + the 100k-message memory run
    .venv/bin/python benchmarks/load_bench.py --quick          # smoke run (figures are not comparable)
    .venv/bin/python benchmarks/load_bench.py --parts load --stores memory --concurrency 50
    .venv/bin/python benchmarks/load_bench.py --actions none   # no action server: response-only conversations

Three parts (``--parts``), each against fresh ``kefu run`` subprocesses on 127.0.0.1:

1. **load**: N concurrent shoppers (``--concurrency``, default 50 and 200), each a coroutine of one aiohttp
   client holding multi-turn conversations taken from the demo's own data (``tests/test_stories.yml`` user lines
   and small talk built from ``data/nlu.yml`` examples), every conversation its own sender id, against
   ``POST /webhooks/rest/webhook``. Two store setups (``--stores``): in-memory (default ``endpoints.yml``) and the
   Redis tracker store + Redis lock store (a temp endpoints file with a unique ``key_prefix``, deleted after).
   Per concurrency two phases, each a warm-up (not counted) then a fixed measured window:
   - *saturation*: closed loop, no think time: the most messages/s N shoppers get, and their latency;
   - *paced*: each shopper sends on a Poisson schedule so that all together offer the store's goal rate
     (300 msg/s in memory, 250 with Redis); round-trip latency p50/p99 at that load, and the latency from the
     scheduled send time (which also counts waiting when the server falls behind).
   Errors are non-200 answers and exceptions (timeouts, resets). Lost events: after each phase every
   conversation's tracker is read back (``GET /conversations/{id}/tracker``, the server runs with
   ``--enable-api --auth-token``) and every message answered 200 must appear exactly once as a user event
   (matched by the ``message_id`` sent with it): ``lost`` = not stored at all, ``duplicated`` = applied twice;
   a message stored again after a ``rewind`` (the two-stage fallback re-logs it) applies once and is reported as
   ``relogged_after_rewind``. Each phase also records the CPU time of the bot process per message (ms per
   message = CPU-seconds per 1,000 messages), of the action stack and of the generator itself.
2. **memory**: RSS (``VmRSS`` of ``/proc/PID/status``) of one ``kefu run`` after ``--memory-messages``
   (default 10k and 100k) messages, sampled with the load paused; conversations end (fresh sender ids) and the
   tracker store is Redis, so the conversations themselves live outside the process; the generator deletes each
   ended conversation's Redis key (what ``record_exp`` does later), so Redis stays small.
3. **coldstart**: wall time from launching ``kefu run`` to the first 200 answer to a webhook message (polled
   every 50 ms), ``--cold-starts`` repetitions, median.

Action server (``--actions``): ``server`` (default) starts the real stack as ``make demo`` does (``kefu backends``
on a temp SQLite order database + the recommender in ``models/recommender``, trained on first use, and
``kefu run actions``) on free ports, and the conversations use every test story (forms, order look-ups,
recommendations, handoffs); ``none`` starts no action server and keeps to conversations whose replies are
responses only (``utter_*``). The choice and the conversation mix are recorded in the JSON.

``--set nlu_batching.max_batch_size=1`` (any dotted key, repeatable) changes every endpoints file written, to
compare settings; ``--py-spy PATH`` samples the bot during the first phase and writes the busiest functions
(self and inclusive share, per thread) under ``profile`` (py-spy is not a dependency: ``pip install py-spy``).

Writes ``benchmarks/results/load_bench.json`` (``load_bench_quick.json`` with ``--quick``): machine (cores, load
average at start and end), settings, every phase's figures, the server's CPU time per message, and ``figures``
(each goal with its measured value and pass/fail), and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
METADATA_FILE = "metadata.json"  # bot.model_archive.METADATA_FILE (not imported: the generator stays light)
HOST = "127.0.0.1"
REST_PATH = "/webhooks/rest/webhook"
ACTION_ERROR_EVENT = "kefu_action_error"

# each: (comparison, goal, unit); judged in figures()
GOALS: dict[str, tuple[str, float, str]] = {
    "in_memory_50_msgs_per_s": (">=", 300.0, "msg/s"),
    "in_memory_50_p99_ms_at_goal_rate": ("<=", 100.0, "ms"),
    "redis_50_msgs_per_s": (">=", 250.0, "msg/s"),
    "lost_events": ("==", 0, "events"),
    "errors": ("==", 0, "requests"),
    "rss_growth_pct": ("<", 5.0, "%"),
    "cold_start_median_s": ("<=", 5.0, "s"),
}
GOAL_RATE = {"memory": 300.0, "redis": 250.0}  # msg/s offered in the paced phase


# ===================================================================== machine and processes
def machine_info() -> dict[str, Any]:
    return {
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "memory_total_mb": _meminfo_mb("MemTotal"),
        "git": git_state(),
    }


def _meminfo_mb(key: str) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def git_state() -> dict[str, Any]:
    """The commit and the files changed in the working tree (the servers run this checkout's code)."""
    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "changed_files": [line[3:] for line in git("status", "--porcelain").splitlines()][:50]}


def rss_mb(pid: int) -> float | None:
    """``VmRSS`` of ``/proc/PID/status`` in MiB (None when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_threads(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a ``/proc/.../stat`` file after the command name (None when it is gone)."""
    try:
        raw = path.read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _cpu_of_stat(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads) from ``/proc/PID/stat``."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return None if fields is None else _cpu_of_stat(fields)


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process: ``main`` (the event loop) and the others by thread id."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        fields = _stat_fields(task / "stat")
        if fields is not None:
            found["main" if task.name == str(pid) else f"tid {task.name}"] = _cpu_of_stat(fields)
    return found


def machine_cpu_ticks() -> dict[str, int]:
    """The first line of ``/proc/stat``: the whole machine's CPU ticks by kind."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) for name, value in zip(names, fields, strict=False)}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (rasa-sdk's Sanic serves from a worker process it spawns)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))  # fields[1]: the parent's pid
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def kefu_command() -> list[str]:
    """The ``kefu`` entry point of this interpreter's environment (``python -m bot.cli`` as a fallback)."""
    beside = Path(sys.executable).parent / "kefu"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("kefu")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class Service:
    """One subprocess in its own process group, its output in a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(self.argv, cwd=REPO, env=child_env(), stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self._log.close()
        return process.returncode


class BenchError(Exception):
    """A setup problem reported as one line (no traceback)."""


async def wait_http(url: str, service: Service, timeout: float, session: aiohttp.ClientSession) -> float:
    """Poll ``url`` until it answers 200; seconds since the service started."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not service.alive():
            raise BenchError(f"{service.name} exited with {service.process.returncode} before answering {url}; "
                             f"its log:\n{service.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, OSError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return time.perf_counter() - service.started_at
        await asyncio.sleep(0.1)
    raise BenchError(f"{service.name} did not answer {url} within {timeout:.0f} s; its log:\n{service.log_tail()}")


# ===================================================================== model, stores, endpoints
def newest_model(path: str | None) -> Path:
    """``--model`` (a model folder or archive, or a folder of models) or the newest model in ``models/``."""
    root = Path(path) if path else REPO / "models"
    if root.is_file() or (root / METADATA_FILE).exists():
        return root
    found = [p for p in root.iterdir() if (p.is_dir() and (p / METADATA_FILE).exists()) or p.name.endswith(".tar.gz")
             ] if root.is_dir() else []
    if not found:
        raise BenchError(f"no trained model in {root}: run `.venv/bin/kefu train` in {REPO} first "
                         "(about 4 minutes), or pass --model PATH")
    return max(found, key=lambda p: p.stat().st_mtime)


@dataclass
class RedisTarget:
    url: str
    prefix: str

    def parts(self) -> tuple[str, int, int]:
        from urllib.parse import urlparse

        parsed = urlparse(self.url)
        db = int(parsed.path.strip("/") or 0)
        return parsed.hostname or HOST, parsed.port or 6379, db

    def tracker_key(self, sender_id: str) -> str:
        return f"{self.prefix}:tracker:{sender_id}"


def redis_ping(url: str) -> str | None:
    """None when Redis answers, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "skip the Redis parts"
        return f"{type(exc).__name__}: {exc}"
    return None


def redis_cleanup(target: RedisTarget) -> int:
    import redis

    client = redis.Redis.from_url(target.url, socket_connect_timeout=2, socket_timeout=10)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{target.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


ENDPOINT_OVERRIDES: dict[str, Any] = {}  # --set KEY=VALUE, applied to every endpoints file written


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. nlu_batching.max_batch_size=1), got {text!r}")
    return key.strip(), yaml.safe_load(value)


def write_endpoints(folder: Path, name: str, actions_url: str | None, redis: RedisTarget | None,
                    record_exp: float | None = None) -> Path:
    """The repository's endpoints.yml with the store sections and the action endpoint of this run."""
    base_file = REPO / "endpoints.yml"
    config = (yaml.safe_load(base_file.read_text(encoding="utf-8")) or {}) if base_file.exists() else {}
    for dotted, value in ENDPOINT_OVERRIDES.items():
        *parents, leaf = dotted.split(".")
        section = config
        for part in parents:
            section = section.setdefault(part, {})
        section[leaf] = value
    config.pop("tracker_store", None)
    config.pop("lock_store", None)
    config.pop("action_endpoint", None)
    if actions_url:
        config["action_endpoint"] = {"url": actions_url}
    if redis is not None:
        host, port, db = redis.parts()
        common = {"type": "redis", "url": host, "port": port, "db": db, "key_prefix": redis.prefix}
        config["tracker_store"] = {**common, "record_exp": record_exp or 3600}
        config["lock_store"] = dict(common)
    path = folder / f"endpoints-{name}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


# ===================================================================== conversations
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def plain(text: str) -> str:
    """Rasa's entity annotations removed: ``[A21908](order_id)`` -> ``A21908``."""
    return _ANNOTATION.sub(r"\1", text).strip()


def nlu_examples(path: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        raw = block.get("examples") or ""
        lines = raw if isinstance(raw, list) else raw.splitlines()
        texts = []
        for line in lines:
            text = line.get("text", "") if isinstance(line, dict) else str(line)
            text = plain(text.strip().removeprefix("- "))
            if text:
                texts.append(text)
        out[str(block["intent"])] = texts
    return out


@dataclass
class Conversation:
    name: str
    turns: list[str]
    custom_actions: bool  # some reply comes from the action server


def story_conversations(path: Path) -> list[Conversation]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for story in data.get("stories", []):
        turns, custom = [], False
        for step in story.get("steps", []):
            if "user" in step:
                turns.append(plain(str(step["user"])))
            action = step.get("action")
            if action and not str(action).startswith("utter_"):
                custom = True
        if turns:
            out.append(Conversation(str(story.get("story", "story")), turns, custom))
    return out


SMALL_TALK = (  # intents whose replies are responses only (data/rules.yml)
    ("greet", "bot_challenge", "thank", "goodbye"),
    ("greet", "out_of_scope", "thank", "goodbye"),
    ("greet", "complaint", "thank", "goodbye"),
    ("bot_challenge", "out_of_scope", "goodbye"),
    ("greet", "bot_challenge", "out_of_scope", "thank", "goodbye"),
)


class ConversationMix:
    """Picks each new conversation: half the time a test story, half small talk from NLU examples."""

    def __init__(self, with_actions: bool, seed: int) -> None:
        stories = story_conversations(REPO / "tests" / "test_stories.yml")
        self.stories = [s for s in stories if with_actions or not s.custom_actions]
        self.examples = nlu_examples(REPO / "data" / "nlu.yml")
        missing = {i for template in SMALL_TALK for i in template} - set(self.examples)
        self.templates = [t for t in SMALL_TALK if not set(t) & missing]
        if not self.stories and not self.templates:
            raise BenchError("no usable conversations in tests/test_stories.yml and data/nlu.yml")
        self.with_actions = with_actions
        self.seed = seed

    def pick(self, rng: random.Random) -> list[str]:
        if self.stories and (not self.templates or rng.random() < 0.5):
            return list(rng.choice(self.stories).turns)
        template = rng.choice(self.templates)
        return [rng.choice(self.examples[intent]) for intent in template]

    def describe(self) -> dict[str, Any]:
        return {
            "source": "tests/test_stories.yml user lines (annotations stripped) and small talk from data/nlu.yml",
            "stories": [s.name for s in self.stories],
            "small_talk_templates": [list(t) for t in self.templates],
            "share": "each new conversation: a test story with p=0.5, else a small-talk template with examples "
                     "drawn at random",
            "turns_per_conversation_mean": round(statistics.fmean(
                [len(s.turns) for s in self.stories] + [len(t) for t in self.templates]), 2),
        }


# ===================================================================== the load generator
@dataclass
class Sample:
    sent: float  # perf_counter when the request went out
    done: float
    status: int  # 0: exception
    error: str | None
    sender: str
    message_id: str
    scheduled: float | None = None
    replies: int = 0
    text: str = ""
    server_ms: dict[str, float] | None = None  # the answer's Server-Timing phases (milliseconds)


@dataclass
class Drive:
    """One run of N shoppers; stops sending at ``stop_at`` (perf_counter) or after ``max_messages``."""

    base_url: str
    mix: ConversationMix
    concurrency: int
    prefix: str
    seed: int
    stop_at: float = math.inf
    max_messages: int | None = None
    rate: float | None = None  # msg/s offered by all shoppers together (None: closed loop)
    request_timeout: float = 30.0
    on_conversation_end: Callable[[str], Any] | None = None
    samples: list[Sample] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    sent: int = 0
    in_flight: int = 0
    ok: int = 0

    def _more(self) -> bool:
        if time.perf_counter() >= self.stop_at:
            return False
        return self.max_messages is None or self.sent < self.max_messages

    async def _post(self, session: aiohttp.ClientSession, sender: str, text: str, message_id: str,
                    scheduled: float | None) -> Sample:
        body = {"sender": sender, "message": text, "message_id": message_id}
        self.in_flight += 1
        sent = time.perf_counter()
        status, error, replies, server_ms = 0, None, 0, None
        try:
            async with session.post(self.base_url + REST_PATH, json=body,
                                    timeout=aiohttp.ClientTimeout(total=self.request_timeout)) as response:
                status = response.status
                payload = await response.read()
                server_ms = parse_server_timing(response.headers.get("Server-Timing"))
                if status == 200:
                    try:
                        replies = len(json.loads(payload))
                    except ValueError:
                        status, error = 0, "invalid JSON in a 200 answer"
                else:
                    error = f"HTTP {status}: {payload[:200].decode(errors='replace')}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        finally:
            self.in_flight -= 1
        sample = Sample(sent, time.perf_counter(), status, error, sender, message_id, scheduled, replies, text,
                        server_ms)
        self.samples.append(sample)
        self.ok += status == 200
        return sample

    async def _shopper(self, index: int, session: aiohttp.ClientSession, started: float) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        mean_gap = self.concurrency / self.rate if self.rate else 0.0
        next_at = started + (rng.uniform(0, mean_gap) if mean_gap else 0.0)
        number = 0
        while self._more():
            sender = f"{self.prefix}-{index}-{number}"
            number += 1
            self.conversations.append(sender)
            for turn, text in enumerate(self.mix.pick(rng)):
                if mean_gap:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if not self._more():
                    break
                self.sent += 1
                await self._post(session, sender, text, f"{sender}-{turn}", next_at if mean_gap else None)
                if mean_gap:
                    next_at += rng.expovariate(1.0 / mean_gap)
            if self.on_conversation_end is not None:
                await self.on_conversation_end(sender)

    async def run(self, session: aiohttp.ClientSession, hard_limit: float) -> None:
        started = time.perf_counter()
        tasks = [asyncio.create_task(self._shopper(i, session, started)) for i in range(self.concurrency)]
        done, pending = await asyncio.wait(tasks, timeout=hard_limit)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # a bug in the generator itself: fail loudly


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def parse_server_timing(value: str | None) -> dict[str, float] | None:
    """``{"nlu": 4.2, ..., "total": 21.0}`` from a ``Server-Timing`` header (None when absent or unreadable)."""
    if not value:
        return None
    phases: dict[str, float] = {}
    for part in value.split(","):
        name, _, rest = part.strip().partition(";dur=")
        try:
            phases[name] = float(rest)
        except ValueError:
            return None
    return phases


def where_the_time_went(ok: list[Sample]) -> dict[str, Any] | None:
    """Mean milliseconds per turn phase from the server's ``Server-Timing`` answers, for all messages and for
    the slowest 1 %; ``outside`` is what the client waited beyond the handler (network stack, event-loop queue)."""
    timed = [s for s in ok if s.server_ms and "total" in s.server_ms]
    if not timed:
        return None

    def means(group: list[Sample]) -> dict[str, float]:
        names = sorted({name for s in group for name in s.server_ms or {}} | {"outside"})
        out = {}
        for name in names:
            if name == "outside":
                values = [(s.done - s.sent) * 1000 - (s.server_ms or {})["total"] for s in group]
            else:
                values = [(s.server_ms or {}).get(name, 0.0) for s in group]
            out[name] = round(statistics.fmean(values), 2)
        return out

    by_latency = sorted(timed, key=lambda s: s.done - s.sent)
    tail = by_latency[math.floor(0.99 * len(by_latency)):] or by_latency[-1:]
    return {"messages": len(timed), "mean_ms": means(timed), "slowest_1pct_mean_ms": means(tail)}


def summarize(samples: list[Sample], window: tuple[float, float]) -> dict[str, Any]:
    """Figures of the measured window: throughput counts completions in it, latency the messages sent in it."""
    begin, end = window
    seconds = end - begin
    in_window = [s for s in samples if begin <= s.sent < end]
    ok = [s for s in in_window if s.status == 200]
    completed_ok = sum(1 for s in samples if s.status == 200 and begin <= s.done < end)
    latencies = sorted((s.done - s.sent) * 1000 for s in ok)
    result: dict[str, Any] = {
        "window_s": round(seconds, 2),
        "messages_sent": len(in_window),
        "messages_ok": len(ok),
        "msgs_per_s": round(completed_ok / seconds, 1) if seconds > 0 else None,
        "latency_ms": {
            "p50": _r(percentile(latencies, 50)), "p90": _r(percentile(latencies, 90)),
            "p99": _r(percentile(latencies, 99)), "max": _r(latencies[-1] if latencies else None),
            "mean": _r(statistics.fmean(latencies) if latencies else None),
        },
        "errors": len(in_window) - len(ok),
        "errors_incl_warmup": sum(1 for s in samples if s.status != 200),
        "error_kinds": dict(Counter((s.error or f"HTTP {s.status}")[:120] for s in samples if s.status != 200)
                            .most_common(5)),
        "empty_replies": sum(1 for s in ok if s.replies == 0),
    }
    scheduled = sorted((s.done - s.scheduled) * 1000 for s in ok if s.scheduled is not None)
    if scheduled:
        result["latency_from_schedule_ms"] = {"p50": _r(percentile(scheduled, 50)), "p99": _r(percentile(scheduled, 99))}
    breakdown = where_the_time_went(ok)
    if breakdown:
        result["server_timing"] = breakdown
    return result


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def verify_trackers(session: aiohttp.ClientSession, base_url: str, token: str, samples: list[Sample],
                          concurrency: int = 16) -> dict[str, Any]:
    """Read every conversation back; each message answered 200 must be one user event (by message_id)."""
    acked: dict[str, set[str]] = {}
    unacked: dict[str, set[str]] = {}
    for s in samples:
        (acked if s.status == 200 else unacked).setdefault(s.sender, set()).add(s.message_id)
    senders = sorted(set(acked) | set(unacked))
    lost = duplicated = reverted = relogged = stored_unacked = action_errors = fetch_errors = 0
    user_events = 0
    examples: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(sender: str) -> None:
        nonlocal lost, duplicated, reverted, relogged, stored_unacked, action_errors, fetch_errors, user_events
        url = f"{base_url}/conversations/{sender}/tracker"
        async with semaphore:
            try:
                async with session.get(url, params={"token": token, "include_events": "ALL"},
                                       timeout=aiohttp.ClientTimeout(total=60)) as response:
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                    tracker = await response.json()
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                fetch_errors += 1
                lost += len(acked.get(sender, ()))  # cannot show they are there: count them as lost
                return
        events = tracker.get("events", [])
        raw, applied = user_message_ids(events)
        user_events += sum(raw.values())
        action_errors += sum(1 for e in events if e.get("event") == ACTION_ERROR_EVENT)
        for message_id in acked.get(sender, ()):
            if raw.get(message_id, 0) == 0:
                lost += 1
            elif applied.get(message_id, 0) == 0:
                reverted += 1
            elif applied[message_id] > 1:
                duplicated += 1
            if raw.get(message_id, 0) > 1 and applied.get(message_id, 0) <= 1:
                relogged += 1
                if len(examples) < 3:
                    examples.append({"sender": sender, "message_id": message_id, "events": [
                        {k: e.get(k) for k in ("event", "name", "text", "message_id") if e.get(k) is not None}
                        for e in events][-60:]})
        stored_unacked += sum(1 for m in unacked.get(sender, ()) if raw.get(m, 0) > 0)

    started = time.perf_counter()
    await asyncio.gather(*(one(s) for s in senders))
    return {
        "conversations_checked": len(senders),
        "messages_acknowledged": sum(len(v) for v in acked.values()),
        "user_events_found": user_events,
        "lost": lost,
        "duplicated": duplicated,
        "reverted_not_relogged": reverted,
        "relogged_after_rewind": relogged,
        "stored_but_not_acknowledged": stored_unacked,
        "tracker_fetch_errors": fetch_errors,
        "action_error_events": action_errors,
        "check_s": round(time.perf_counter() - started, 1),
        "relogged_examples": examples,
    }


def user_message_ids(events: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """How often each message_id is stored as a user event, and how often it still applies.

    A ``rewind`` (UserUtteranceReverted, e.g. the two-stage fallback re-logging a message) takes the latest
    user event back, so a message re-logged after a rewind is stored twice but applies once. Restarts and new
    sessions do not take anything back here: the events are still stored.
    """
    raw: Counter[str] = Counter()
    applied: list[str | None] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            raw[event.get("message_id")] += 1
            applied.append(event.get("message_id"))
        elif kind == "rewind" and applied:
            applied.pop()
    return raw, Counter(applied)


# ===================================================================== progress
class Progress:
    """A rich progress bar per phase (plain lines when rich is missing or output is not a terminal)."""

    def __init__(self) -> None:
        try:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress
        except ImportError:  # pragma: no cover - rich is a dependency
            self.rich = None
        else:  # a live bar on a terminal; plain lines every few seconds in a log file or pipe
            self.rich = None if not sys.stdout.isatty() else RichProgress(TextColumn("{task.description:<34}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                     TimeElapsedColumn(), transient=False)

    def __enter__(self) -> Progress:
        if self.rich is not None:
            self.rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.stop()

    def log(self, text: str) -> None:
        if self.rich is not None:
            self.rich.console.print(text, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    async def track(self, description: str, total: float, drive: Drive, started: float, by_messages: bool = False,
                    rss_pid: int | None = None) -> None:
        """Refresh a bar every 0.5 s until cancelled (time based, or message based for the memory part)."""
        task = self.rich.add_task(description, total=total, info="") if self.rich is not None else None
        last_print = 0.0
        try:
            while True:
                elapsed = time.perf_counter() - started
                ok = drive.ok
                bad = len(drive.samples) - ok
                info = f"{ok} ok {bad} err {ok / max(elapsed, 1e-9):.0f} msg/s"
                if rss_pid is not None:
                    info += f" rss {rss_mb(rss_pid) or 0:.0f} MiB"
                done = len(drive.samples) if by_messages else min(elapsed, total)
                if task is not None:
                    self.rich.update(task, completed=done, info=info)
                elif time.perf_counter() - last_print > 5:
                    print(f"  {description}: {info}", flush=True)
                    last_print = time.perf_counter()
                await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            if task is not None:
                self.rich.update(task, completed=total)
            raise


# ===================================================================== the parts
@dataclass
class Context:
    args: argparse.Namespace
    model: Path
    workdir: Path
    session: aiohttp.ClientSession
    progress: Progress
    mix: ConversationMix
    actions_url: str | None
    action_services: list[Service]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


async def start_bot(ctx: Context, name: str, endpoints: Path, enable_api: bool = True,
                    timeout: float = 300.0) -> tuple[Service, str, float]:
    port = free_port()
    argv = [*kefu_command(), "run", "-m", str(ctx.model), "--port", str(port), "-i", HOST,
            "--endpoints", str(endpoints)]
    if enable_api:
        argv += ["--enable-api", "--auth-token", ctx.token]
    argv += shlex.split(ctx.args.bot_args)
    service = Service(name, argv, ctx.workdir)
    service.start()
    base = f"http://{HOST}:{port}"
    ready = await wait_http(base + "/webhooks/rest/", service, timeout, ctx.session)
    return service, base, ready


def cpu_of(services: list[Service]) -> float:
    """CPU seconds of the services and every process they started."""
    return sum(cpu_seconds(pid) or 0.0 for s in services if s.alive() for pid in descendants(s.pid))


def write_samples(path: Path, samples: list[Sample], started: float) -> None:
    """Every request of a phase as CSV (seconds since the phase began, latency, status, sender, replies, text),
    to look at the tail and at which turns make it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sent_s", "latency_ms", "status", "sender", "replies", "text"])
        for s in sorted(samples, key=lambda sample: sample.sent):
            writer.writerow([f"{s.sent - started:.4f}", f"{(s.done - s.sent) * 1000:.2f}", s.status, s.sender,
                             s.replies, s.text])


async def batching_stats(ctx: Context, base: str) -> dict[str, Any] | None:
    """The server's NLU batching counters (``GET /status``); None when unreadable."""
    try:
        async with ctx.session.get(f"{base}/status", params={"token": ctx.token},
                                   timeout=aiohttp.ClientTimeout(total=10)) as response:
            return (await response.json()).get("nlu_batching") if response.status == 200 else None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


async def run_phase(ctx: Context, base: str, bot: Service, store: str, concurrency: int, kind: str,
                    extra_rate: float | None = None, repeat: int = 0) -> dict[str, Any]:
    """One phase: ``saturation`` (closed loop), ``paced`` (the goal rate offered) or ``extra`` (``extra_rate``);
    ``repeat`` numbers the second and later runs of a phase (their conversations get other sender ids)."""
    args = ctx.args
    rate = GOAL_RATE[store] if kind == "paced" else extra_rate if kind == "extra" else None
    prefix = (f"lb{ctx.run_id}-{store[:3]}-{concurrency}-{kind[0]}" + (f"{rate:.0f}" if kind == "extra" else "")
              + (f"-r{repeat}" if repeat else ""))
    started = time.perf_counter()
    warm_end = started + args.warmup
    end = warm_end + args.duration
    drive = Drive(base, ctx.mix, concurrency, prefix, args.seed, stop_at=end, rate=rate,
                  request_timeout=args.request_timeout)
    label = f"{store} N={concurrency} {kind}" + (f" @{rate:.0f}/s" if rate else "") + (f" #{repeat + 1}" if repeat else "")
    ticker = asyncio.create_task(ctx.progress.track(label, args.warmup + args.duration, drive, started))

    cpu_marks: dict[str, float] = {}
    threads0: dict[str, float] = {}
    threads1: dict[str, float] = {}
    machine0: dict[str, int] = {}
    batching: list[dict[str, Any] | None] = [None, None]
    machine1: dict[str, int] = {}

    async def mark_window() -> None:
        await asyncio.sleep(max(0.0, warm_end - time.perf_counter()))
        batching[0] = await batching_stats(ctx, base)
        cpu_marks["bot0"], cpu_marks["act0"], cpu_marks["gen0"] = (
            cpu_seconds(bot.pid) or 0.0, cpu_of(ctx.action_services), time.process_time())
        threads0.update(thread_cpu_seconds(bot.pid))
        machine0.update(machine_cpu_ticks())
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        batching[1] = await batching_stats(ctx, base)
        cpu_marks["bot1"], cpu_marks["act1"], cpu_marks["gen1"] = (
            cpu_seconds(bot.pid) or 0.0, cpu_of(ctx.action_services), time.process_time())
        threads1.update(thread_cpu_seconds(bot.pid))
        machine1.update(machine_cpu_ticks())

    marker = asyncio.create_task(mark_window())
    try:
        await drive.run(ctx.session, hard_limit=args.warmup + args.duration + args.request_timeout + 30)
        await marker
    finally:
        ticker.cancel()
        marker.cancel()
        await asyncio.gather(ticker, marker, return_exceptions=True)
    result = {"store": store, "concurrency": concurrency, "phase": kind, "offered_msgs_per_s": rate,
              "warmup_s": args.warmup, **summarize(drive.samples, (warm_end, end)),
              "conversations": len(drive.conversations)}
    if "bot1" in cpu_marks:
        ok = max(1, result["messages_ok"])
        bot_cpu = cpu_marks["bot1"] - cpu_marks["bot0"]
        result["cpu"] = {
            "bot_cpu_s": round(bot_cpu, 2),
            "bot_cores_busy": round(bot_cpu / args.duration, 2),
            "bot_cpu_ms_per_msg": round(bot_cpu * 1000 / ok, 2),
            "action_stack_cpu_ms_per_msg": round((cpu_marks["act1"] - cpu_marks["act0"]) * 1000 / ok, 2),
            "generator_cpu_ms_per_msg": round((cpu_marks["gen1"] - cpu_marks["gen0"]) * 1000 / ok, 2),
            "bot_threads": proc_threads(bot.pid),
            "machine_cpu_share": {
                kind: round((machine1[kind] - machine0.get(kind, 0)) / max(1, sum(machine1.values()) - sum(machine0.values())), 3)
                for kind in machine1 if machine1[kind] - machine0.get(kind, 0) > 0},
            "bot_cpu_ms_per_msg_by_thread": {
                name: round((seconds - threads0.get(name, 0.0)) * 1000 / ok, 2)
                for name, seconds in sorted(threads1.items(), key=lambda item: -item[1])
                if seconds - threads0.get(name, 0.0) > 0.005 * args.duration},
        }
    if batching[0] and batching[1]:
        batches = batching[1]["batches"] - batching[0]["batches"]
        result["nlu_batching"] = {
            "num_threads": batching[1]["num_threads"], "batches": batches,
            "mean_batch_size": round((batching[1]["messages"] - batching[0]["messages"]) / batches, 2) if batches else None}
    if args.samples_out:
        write_samples(Path(args.samples_out) / f"{prefix.split('-', 1)[1]}.csv", drive.samples, started)
    if not args.no_verify:
        result["events"] = await verify_trackers(ctx.session, base, ctx.token, drive.samples)
    result["bot_rss_mb"] = _r(rss_mb(bot.pid), 1)
    lat = result["latency_ms"]
    ctx.progress.log(f"  {label}: {result['msgs_per_s']} msg/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
                     f"errors {result['errors']}" + (f", lost {result['events']['lost']}" if "events" in result else ""))
    if "server_timing" in result:
        mean, tail = result["server_timing"]["mean_ms"], result["server_timing"]["slowest_1pct_mean_ms"]
        ctx.progress.log("    ms per turn, mean / slowest 1 %: " + ", ".join(
            f"{name} {mean[name]:g}/{tail.get(name, 0):g}" for name in mean))
    return result


async def part_load(ctx: Context, redis_url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for store in ctx.args.stores:
        redis = None
        if store == "redis":
            if redis_url is None:
                out[store] = {"skipped": "Redis not reachable"}
                continue
            redis = RedisTarget(ctx.args.redis_url, f"kefubench{ctx.run_id}load")
        endpoints = write_endpoints(ctx.workdir, f"load-{store}", ctx.actions_url, redis)
        bot, base, ready_s = await start_bot(ctx, f"bot-load-{store}", endpoints)
        ctx.progress.log(f"{store}: kefu run ready in {ready_s:.1f} s (pid {bot.pid}, {base})")
        phases = []
        profile = None
        try:
            for concurrency in ctx.args.concurrency:
                kinds = ([] if ctx.args.no_saturation else ["saturation"]) \
                    + ([] if ctx.args.no_paced else ["paced"] * ctx.args.repeat)
                for index, kind in enumerate(kinds):
                    if ctx.args.py_spy and store == ctx.args.stores[0] and profile is None:
                        profile = start_profile(ctx, bot.pid, f"{store}-{concurrency}-{kind}")
                    phases.append(await run_phase(ctx, base, bot, store, concurrency, kind,
                                                  repeat=kinds[:index].count(kind)))
                    if profile is not None and "summary" not in profile:
                        profile["summary"] = finish_profile(profile)
                for rate in ctx.args.extra_rates if concurrency == ctx.args.concurrency[0] else ():
                    phases.append(await run_phase(ctx, base, bot, store, concurrency, "extra", rate))
        finally:
            rss = rss_mb(bot.pid)
            code = bot.stop()
            deleted = redis_cleanup(redis) if redis is not None else None
        out[store] = {
            "store": "in-memory tracker + lock store" if store == "memory" else
                     "Redis tracker store + Redis lock store",
            "endpoints": yaml.safe_load(endpoints.read_text()),
            "ready_s": round(ready_s, 2),
            "phases": phases,
            "bot_rss_mb_at_end": _r(rss, 1),
            "exit_code": code,
        }
        if deleted is not None:
            out[store]["redis_keys_deleted"] = deleted
        if profile is not None:
            out[store]["profile"] = profile.get("summary")
    return out


async def part_memory(ctx: Context, redis_url: str | None) -> dict[str, Any]:
    args = ctx.args
    store = args.memory_store
    if store == "redis" and redis_url is None:
        return {"skipped": "Redis not reachable"}
    target = RedisTarget(args.redis_url, f"kefubench{ctx.run_id}mem") if store == "redis" else None
    endpoints = write_endpoints(ctx.workdir, "memory", ctx.actions_url, target, record_exp=args.memory_record_exp)
    bot, base, ready_s = await start_bot(ctx, "bot-memory", endpoints, enable_api=False)
    ctx.progress.log(f"memory: kefu run ready in {ready_s:.1f} s (pid {bot.pid}); store {store}")
    redis_client = None
    ended = 0
    if target is not None:
        from redis import asyncio as aioredis

        redis_client = aioredis.Redis.from_url(args.redis_url)

    async def end_conversation(sender: str) -> None:
        nonlocal ended
        ended += 1
        if redis_client is not None:
            await redis_client.delete(target.tracker_key(sender))

    checkpoints = sorted(args.memory_messages)
    samples: list[dict[str, Any]] = [{"messages": 0, "rss_mb": _r(rss_mb(bot.pid), 1)}]
    timeline: list[dict[str, Any]] = []
    total_ok = total_err = 0
    started = time.perf_counter()
    try:
        for index, checkpoint in enumerate(checkpoints):
            drive = Drive(base, ctx.mix, args.memory_concurrency, f"lb{ctx.run_id}-mem-{index}", args.seed + index,
                          max_messages=checkpoint - (total_ok + total_err), request_timeout=args.request_timeout,
                          on_conversation_end=end_conversation)
            label = f"memory {store}: to {checkpoint:,} messages"
            phase_start = time.perf_counter()
            ticker = asyncio.create_task(ctx.progress.track(label, drive.max_messages, drive, phase_start,
                                                            by_messages=True, rss_pid=bot.pid))

            async def sample_rss(drive: Drive = drive, base_count: int = total_ok + total_err) -> None:
                while True:
                    await asyncio.sleep(args.memory_sample_every)
                    timeline.append({"t_s": round(time.perf_counter() - started, 1),
                                     "messages": base_count + len(drive.samples), "rss_mb": _r(rss_mb(bot.pid), 1)})

            sampler = asyncio.create_task(sample_rss())
            try:
                await drive.run(ctx.session, hard_limit=args.memory_timeout)
            finally:
                ticker.cancel()
                sampler.cancel()
                await asyncio.gather(ticker, sampler, return_exceptions=True)
            ok = sum(1 for s in drive.samples if s.status == 200)
            total_ok += ok
            total_err += len(drive.samples) - ok
            await asyncio.sleep(args.memory_settle)  # the load paused: nothing in flight
            rss = rss_mb(bot.pid)
            seconds = time.perf_counter() - phase_start
            samples.append({"messages": total_ok + total_err, "messages_ok": total_ok, "errors": total_err,
                            "rss_mb": _r(rss, 1), "msgs_per_s": round(len(drive.samples) / seconds, 1),
                            "conversations_ended": ended})
            ctx.progress.log(f"  after {total_ok + total_err:,} messages: RSS {rss:.1f} MiB "
                             f"({len(drive.samples) / seconds:.0f} msg/s, {total_err} errors)")
            if len(drive.samples) < drive.max_messages:
                ctx.progress.log(f"  stopped early: --memory-timeout {args.memory_timeout:.0f} s reached")
                break
    finally:
        code = bot.stop()
        if redis_client is not None:
            await redis_client.aclose()
        deleted = redis_cleanup(target) if target is not None else None
    result: dict[str, Any] = {
        "store": store,
        "why": ("Redis tracker + lock store: conversations live outside the process, so RSS growth shows what the "
                "server itself keeps per message or per conversation; each conversation ends (fresh sender id) and "
                "the generator deletes its Redis key once it ended (what record_exp does later) so Redis stays small"
                if store == "redis" else
                "in-memory tracker store: it keeps every conversation forever, so RSS grows with the messages by "
                "design; use --memory-store redis to see the server's own growth"),
        "concurrency": args.memory_concurrency,
        "checkpoints": samples,
        "timeline": timeline,
        "errors": total_err,
        "exit_code": code,
        "lost_events_checked": False,
    }
    if deleted is not None:
        result["redis_keys_deleted"] = deleted
    first = next((s for s in samples if s["messages"] >= checkpoints[0]), None)
    last = samples[-1] if samples[-1]["messages"] >= checkpoints[-1] else None
    if first and last and first is not last and first["rss_mb"] and last["rss_mb"]:
        result["rss_growth_pct"] = round((last["rss_mb"] - first["rss_mb"]) / first["rss_mb"] * 100, 2)
        result["rss_growth_between"] = [first["messages"], last["messages"]]
    return result


async def part_coldstart(ctx: Context) -> dict[str, Any]:
    endpoints = write_endpoints(ctx.workdir, "coldstart", None, None)
    runs = []
    for rep in range(ctx.args.cold_starts):
        port = free_port()
        service = Service(f"bot-coldstart-{rep}", [*kefu_command(), "run", "-m", str(ctx.model), "--port", str(port),
                                                    "-i", HOST, "--endpoints", str(endpoints),
                                                    *shlex.split(ctx.args.bot_args)], ctx.workdir)
        url = f"http://{HOST}:{port}{REST_PATH}"
        first_answer = first_reply = None
        reply: Any = None
        service.start()
        try:
            deadline = service.started_at + ctx.args.cold_start_timeout
            attempt = 0
            while time.perf_counter() < deadline and service.alive():
                attempt += 1
                body = {"sender": f"coldstart-{ctx.run_id}-{rep}-{attempt}", "message": "hello"}
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, OSError):
                    async with ctx.session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as response:
                        if first_answer is None:
                            first_answer = time.perf_counter() - service.started_at
                        if response.status == 200:
                            reply = await response.json()
                            first_reply = time.perf_counter() - service.started_at
                            break
                await asyncio.sleep(0.05)
        finally:
            code = service.stop()
        if first_reply is None:
            raise BenchError(f"cold start {rep + 1}: no 200 answer within {ctx.args.cold_start_timeout:.0f} s "
                             f"(exit code {code}); log:\n{service.log_tail()}")
        text = reply[0].get("text", "") if isinstance(reply, list) and reply else ""
        runs.append({"first_reply_s": round(first_reply, 3), "first_http_answer_s": _r(first_answer, 3),
                     "reply": text[:80]})
        ctx.progress.log(f"  cold start {rep + 1}/{ctx.args.cold_starts}: first reply after {first_reply:.2f} s")
    values = [r["first_reply_s"] for r in runs]
    return {"runs": runs, "median_s": round(statistics.median(values), 3), "min_s": min(values), "max_s": max(values),
            "message": "hello", "store": "in-memory", "how": "launch `kefu run` → POST /webhooks/rest/webhook every "
            "50 ms until a 200 answer; includes Python start-up, imports and model loading"}


async def start_action_stack(ctx: Context) -> tuple[str, list[Service], dict[str, Any]]:
    orders_port, reco_port, actions_port = free_port(), free_port(), free_port()
    orders_url, reco_url = f"http://{HOST}:{orders_port}", f"http://{HOST}:{reco_port}"
    db = f"sqlite:///{ctx.workdir / 'orders.db'}"
    model_dir = Path(ctx.args.reco_model_dir)
    trained_before = (model_dir / "params.json").exists()
    backends = Service("backends", [*kefu_command(), "backends", "--host", HOST, "--orders-port", str(orders_port),
                                    "--reco-port", str(reco_port), "--db", db, "--model-dir", str(model_dir),
                                    "--train-if-missing"], ctx.workdir)
    actions = Service("actions", [*kefu_command(), "run", "actions", "-p", str(actions_port), "--orders-url", orders_url,
                                  "--reco-url", reco_url], ctx.workdir)
    backends.start()
    if not trained_before:
        ctx.progress.log(f"no recommender in {model_dir}: `kefu backends --train-if-missing` trains one first "
                         "(a minute or more)")
    try:
        await wait_http(orders_url + "/health", backends, 900, ctx.session)
        await wait_http(reco_url + "/health", backends, 900, ctx.session)
        actions.start()
        await wait_http(f"http://{HOST}:{actions_port}/health", actions, 300, ctx.session)
    except BaseException:
        actions.stop()
        backends.stop()
        raise
    info = {"mode": "server", "orders_db": "temp SQLite (seeded by kefu backends)", "reco_model_dir": str(model_dir),
            "recommender_trained_by_this_run": not trained_before,
            "why": "the real action server and backends, as `make demo` runs them, so forms, order look-ups and "
                   "recommendations cost what they cost in production (they share the 2 cores with the bot)"}
    return f"http://{HOST}:{actions_port}/webhook", [backends, actions], info


# ===================================================================== profiling (optional, py-spy)
def start_profile(ctx: Context, pid: int, label: str) -> dict[str, Any] | None:
    exe = shutil.which(ctx.args.py_spy) or (ctx.args.py_spy if Path(ctx.args.py_spy).exists() else None)
    if exe is None:
        ctx.progress.log(f"py-spy not found at '{ctx.args.py_spy}': no profile")
        return {"summary": {"error": "py-spy not found"}}
    out = ctx.workdir / f"profile-{label}.txt"
    seconds = max(1, int(ctx.args.warmup + ctx.args.duration - 1))
    process = subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                                "--format", "raw", "--output", str(out), "--nonblocking", "--threads"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    return {"process": process, "path": out, "label": label}


def finish_profile(profile: dict[str, Any], top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    process = profile["process"]
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
    path: Path = profile["path"]
    if not path.exists():
        return {"error": (err or b"").decode(errors="replace")[-500:]}
    self_count: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        by_thread[thread[:60]] += count
        names = [f for f in frames if "(" in f]
        if names:
            self_count[_frame(names[-1])] += count
        for name in {_frame(f) for f in names[1:]}:  # the first frame is the thread's entry point
            inclusive[name] += count
    share = lambda c: round(100 * c / max(total, 1), 1)  # noqa: E731
    return {
        "phase": profile["label"], "samples": total, "raw_file": str(path),
        "self_pct": [[name, share(c)] for name, c in self_count.most_common(top)],
        "inclusive_pct": [[name, share(c)] for name, c in inclusive.most_common(top * 2)],
        "threads_pct": [[name, share(c)] for name, c in by_thread.most_common(8)],
    }


def _frame(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: lines merged, paths shortened."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else file
    return f"{name} ({short})"


# ===================================================================== report
def _judge(op: str, measured: float | None, goal: float) -> bool | None:
    if measured is None:
        return None
    return {">=": measured >= goal, "<=": measured <= goal, "<": measured < goal, "==": measured == goal}[op]


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(key: str, name: str, measured: float | None, note: str = "", holds: bool = True) -> None:
        op, goal, unit = GOALS[key]
        verdict = _judge(op, measured, goal)
        rows.append({"key": key, "name": name, "goal": f"{op} {goal:g} {unit}", "measured": measured, "unit": unit,
                     "pass": verdict and holds if verdict is not None else None, "note": note})

    load = results.get("load", {})

    def phases_of(store: str, concurrency: int, kind: str) -> list[dict[str, Any]]:
        return [p for p in load.get(store, {}).get("phases", [])
                if p["concurrency"] == concurrency and p["phase"] == kind]

    def phase(store: str, concurrency: int, kind: str) -> dict[str, Any] | None:
        found = phases_of(store, concurrency, kind)
        return found[0] if found else None

    sat = phase("memory", 50, "saturation")
    if sat:
        add("in_memory_50_msgs_per_s", "in-memory, 50 concurrent: msg/s (closed loop)", sat["msgs_per_s"])
    paced_runs = phases_of("memory", 50, "paced")
    if paced_runs:  # with --repeat, the run with the median p99 (the higher of two) stands for all (each one is in the note)
        paced = sorted(paced_runs, key=lambda p: p["latency_ms"]["p99"])[len(paced_runs) // 2]
        kept_up = (paced["msgs_per_s"] or 0) >= 0.95 * GOAL_RATE["memory"]
        runs = "" if len(paced_runs) == 1 else (
            f"; median of {len(paced_runs)} runs, p99 " + ", ".join(f"{p['latency_ms']['p99']:g}" for p in paced_runs))
        add("in_memory_50_p99_ms_at_goal_rate", f"in-memory, 50 concurrent: p99 at {GOAL_RATE['memory']:.0f} msg/s "
            "offered", paced["latency_ms"]["p99"], f"achieved {paced['msgs_per_s']} msg/s" + runs
            + ("" if kept_up else ": the offered rate was not reached, so this fails whatever the p99"), kept_up)
    elif sat:
        add("in_memory_50_p99_ms_at_goal_rate", "in-memory, 50 concurrent: p99 (closed loop)", sat["latency_ms"]["p99"],
            "no paced phase: closed-loop p99")
    sat = phase("redis", 50, "saturation")
    if sat:
        add("redis_50_msgs_per_s", "Redis stores, 50 concurrent: msg/s (closed loop)", sat["msgs_per_s"])
    phases = [p for store in load.values() if isinstance(store, dict) for p in store.get("phases", [])]
    checked = [p for p in phases if "events" in p]
    if checked:
        add("lost_events", "lost events (all load phases)", sum(p["events"]["lost"] for p in checked),
            f"{sum(p['events']['messages_acknowledged'] for p in checked)} acknowledged messages checked; "
            f"applied twice {sum(p['events']['duplicated'] for p in checked)}; re-logged after a rewind "
            f"{sum(p['events']['relogged_after_rewind'] for p in checked)}")
    if phases:
        add("errors", "errors: non-200 or exceptions (all load phases)", sum(p["errors_incl_warmup"] for p in phases))
    memory = results.get("memory", {})
    if "rss_growth_pct" in memory:
        a, b = memory["rss_growth_between"]
        add("rss_growth_pct", f"RSS growth {a:,} → {b:,} messages ({memory['store']} store)", memory["rss_growth_pct"])
    cold = results.get("cold_start", {})
    if "median_s" in cold:
        add("cold_start_median_s", f"cold start to first reply (median of {len(cold['runs'])})", cold["median_s"])
    return rows


def table(results: dict[str, Any]) -> str:
    lines = []
    header = (f"{'store':<7} {'N':>4} {'phase':<10} {'offered':>7} {'msg/s':>7} {'p50ms':>8} {'p99ms':>8} "
              f"{'sched99':>8} {'errors':>6} {'lost':>5} {'cpu ms/msg':>10} {'busy':>5}")
    if any(entry.get("phases") for entry in results.get("load", {}).values()):
        lines += [header, "-" * len(header)]
    for store, entry in results.get("load", {}).items():
        for p in entry.get("phases", []):
            lat, cpu = p["latency_ms"], p.get("cpu", {})
            sched = (p.get("latency_from_schedule_ms") or {}).get("p99")
            lost = p["events"]["lost"] if "events" in p else "-"
            lines.append(f"{store:<7} {p['concurrency']:>4} {p['phase']:<10} {p['offered_msgs_per_s'] or '-':>7} "
                         f"{p['msgs_per_s']:>7} {lat['p50'] or 0:>8.1f} {lat['p99'] or 0:>8.1f} "
                         f"{sched if sched is not None else '-':>8} {p['errors']:>6} {lost:>5} "
                         f"{cpu.get('bot_cpu_ms_per_msg', '-'):>10} {cpu.get('bot_cores_busy', '-'):>5}")
    memory = results.get("memory", {})
    if memory.get("checkpoints"):
        lines.append("memory: " + ", ".join(f"{c['messages']:,} msgs → {c['rss_mb']} MiB" for c in memory["checkpoints"]))
    cold = results.get("cold_start", {})
    if cold.get("runs"):
        lines.append(f"cold start: median {cold['median_s']} s ({', '.join(str(r['first_reply_s']) for r in cold['runs'])})")
    lines.append("")
    goal_header = f"{'figure':<58} {'goal':>14} {'measured':>10}  result"
    lines += [goal_header, "-" * len(goal_header)]
    for row in results.get("figures", []):
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[row["pass"]]
        measured = "-" if row["measured"] is None else f"{row['measured']:g}"
        lines.append(f"{row['name']:<58.58} {row['goal']:>14} {measured:>10}  {verdict}"
                     + (f"  ({row['note']})" if row["note"] else ""))
    return "\n".join(lines)


# ===================================================================== main
async def run_all(args: argparse.Namespace, results: dict[str, Any], save: Callable[[], None]) -> None:
    model = newest_model(args.model)
    results["model"] = str(model)
    redis_url = None
    if "redis" in args.stores or ("memory" in args.parts and args.memory_store == "redis"):
        problem = redis_ping(args.redis_url)
        if problem:
            results["redis"] = f"not reachable at {args.redis_url}: {problem}; Redis parts skipped"
            print(f"warning: Redis {results['redis']}", flush=True)
        else:
            redis_url = args.redis_url
    mix = ConversationMix(with_actions=args.actions == "server", seed=args.seed)
    results["conversations"] = mix.describe()
    with tempfile.TemporaryDirectory(prefix="kefu-load-bench-") as tmp, Progress() as progress:
        workdir = Path(args.keep_logs) if args.keep_logs else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            ctx = Context(args, model, workdir, session, progress, mix, None, [])
            if "coldstart" in args.parts:
                progress.log(f"cold start: {args.cold_starts} × `kefu run` → first reply")
                results["cold_start"] = await part_coldstart(ctx)
                save()
            try:
                if args.actions == "server" and ({"load", "memory"} & set(args.parts)):
                    progress.log("starting the action server and backends (kefu backends, kefu run actions)")
                    ctx.actions_url, ctx.action_services, results["action_server"] = await start_action_stack(ctx)
                elif {"load", "memory"} & set(args.parts):
                    results["action_server"] = {
                        "mode": "none", "why": "--actions none: no action server; only conversations whose replies "
                        "are responses (utter_*); a custom action predicted anyway (NLU mistake) fails politely and "
                        "is counted as events.action_error_events"}
                if "load" in args.parts:
                    results["load"] = await part_load(ctx, redis_url)
                    save()
                if "memory" in args.parts:
                    results["memory"] = await part_memory(ctx, redis_url)
                    save()
            finally:
                for service in reversed(ctx.action_services):
                    service.stop()
        if args.keep_logs:
            results["logs"] = str(workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder/archive or folder of models (default: newest in "
                                                      "models/)")
    parser.add_argument("--parts", nargs="+", choices=["load", "memory", "coldstart"],
                        default=["coldstart", "load", "memory"])
    parser.add_argument("--stores", nargs="+", choices=["memory", "redis"], default=["memory", "redis"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of each phase not counted")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds of each phase")
    parser.add_argument("--no-paced", action="store_true", help="closed-loop phases only")
    parser.add_argument("--no-saturation", action="store_true", help="paced phases only (no closed loop)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each paced phase this many times on the same server (the p99 goal takes the median)")
    parser.add_argument("--extra-rates", type=float, nargs="*", default=[],
                        help="also offer these rates (msg/s) after each store's goal-rate phase (first concurrency "
                             "only): what the machine sustains, with its p99")
    parser.add_argument("--no-verify", action="store_true", help="skip reading the trackers back (lost events)")
    parser.add_argument("--samples-out", default=None,
                        help="folder for one CSV per phase with every request's send time, latency and status")
    parser.add_argument("--actions", choices=["server", "none"], default="server",
                        help="server: real action server + backends; none: response-only conversations")
    parser.add_argument("--reco-model-dir", default=str(REPO / "models" / "recommender"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--memory-messages", type=int, nargs="+", default=[10_000, 100_000],
                        help="RSS is read after each of these message counts (growth: first to last)")
    parser.add_argument("--memory-store", choices=["redis", "memory"], default="redis")
    parser.add_argument("--memory-concurrency", type=int, default=50)
    parser.add_argument("--memory-record-exp", type=float, default=600.0, help="Redis record_exp of the memory run")
    parser.add_argument("--memory-sample-every", type=float, default=5.0, help="seconds between RSS timeline samples")
    parser.add_argument("--memory-settle", type=float, default=2.0, help="seconds idle before each RSS checkpoint")
    parser.add_argument("--memory-timeout", type=float, default=3600.0, help="most seconds per memory checkpoint")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--cold-start-timeout", type=float, default=120.0)
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                        metavar="KEY=VALUE", help="set a key of every endpoints file written (dotted path, YAML "
                        "value), e.g. --set nlu_batching.max_batch_size=1; repeatable")
    parser.add_argument("--bot-args", default="", metavar="ARGS",
                        help="more arguments for every `kefu run` (load, memory, cold start), e.g. "
                        "--bot-args='--credentials my-credentials.yml'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--py-spy", default=None, metavar="PATH",
                        help="profile the first store's first phase with this py-spy binary (JSON: profile)")
    parser.add_argument("--keep-logs", default=None, metavar="DIR", help="keep server logs (and profiles) in DIR")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default benchmarks/results/load_bench.json, load_bench_quick.json with --quick)")
    parser.add_argument("--quick", action="store_true", help="short phases, 1k/5k messages, 2 cold starts (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.duration = 2.0, 5.0
        if args.memory_messages == [10_000, 100_000]:
            args.memory_messages = [1_000, 5_000]
        args.cold_starts = min(args.cold_starts, 2)
    if args.out is None:
        args.out = RESULTS / ("load_bench_quick.json" if args.quick else "load_bench.json")
    ENDPOINT_OVERRIDES.update(dict(args.overrides))
    if len(args.memory_messages) < 2 and "memory" in args.parts:
        parser.error("--memory-messages needs two counts or more (growth from the first to the last)")

    try:
        import uvloop
    except ImportError:
        uvloop = None
    results: dict[str, Any] = {
        "benchmark": "load_bench",
        "machine": machine_info(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "goals": {k: {"op": op, "goal": goal, "unit": unit} for k, (op, goal, unit) in GOALS.items()},
        "goal_rate_msgs_per_s": GOAL_RATE,
        "generator": {"client": f"aiohttp {aiohttp.__version__}", "event_loop": "uvloop" if uvloop else "asyncio",
                      "process": "one process, one event loop, on the same machine as the servers"},
    }
    started = time.perf_counter()

    def save() -> None:
        results["figures"] = figures(results)
        results["table"] = table(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")

    try:
        if uvloop is not None:
            uvloop.run(run_all(args, results, save))
        else:
            asyncio.run(run_all(args, results, save))
    except BenchError as exc:
        print(f"load_bench: {exc}", file=sys.stderr)
        results["error"] = str(exc)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        if "model" in results:
            save()
        return 2
    except KeyboardInterrupt:
        print("load_bench: interrupted", file=sys.stderr)
        return 130
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    save()
    print(results["table"])
    print(f"written {args.out} ({results['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
