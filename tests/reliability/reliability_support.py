"""Real processes for the fault tests: a tiny trained project, ``kefu run``, ``kefu run actions``, HTTP load.

Imported by the ``test_*`` modules of this folder (pytest puts the folder on ``sys.path``). Everything binds
127.0.0.1, and every wait is bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ACTIONS_MODULE = "reliability_actions"  # served by `kefu run actions` from this folder
GREETING = "Hi!"

DOMAIN = f"""
version: "3.1"
intents: [greet, check_order, slow_check, wait_reply]
responses:
  utter_greet:
  - text: "{GREETING}"
actions: [action_check_order, action_slow_check, action_wait_reply]
session_config:
  session_expiration_time: 0
"""

CONFIG = """
recipe: default.v1
language: en
pipeline: []
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""

RULES = """
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: check an order on the action server
  steps:
  - intent: check_order
  - action: action_check_order
- rule: an order check that takes too long
  steps:
  - intent: slow_check
  - action: action_slow_check
- rule: a slow but working action
  steps:
  - intent: wait_reply
  - action: action_wait_reply
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def write_project(root: Path) -> Path:
    """The tiny project (rules only: trains in about a second, no NLU: messages are ``/intent`` payloads)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(DOMAIN)
    (root / "config.yml").write_text(CONFIG)
    (root / "data" / "rules.yml").write_text(RULES)
    (root / "endpoints.yml").write_text("")
    return root


def train_project(root: Path) -> Path:
    """Train the project's dialogue policies into ``root/models``; returns the model folder."""
    from bot.model_archive import train_model
    from bot.project import load_project

    project = load_project(root=root)
    project.raise_for_errors()
    return train_model(project, root / "models", parts=("core",)).path


def write_endpoints(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text)
    return name


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float, log: Path) -> None:
    """Poll until something accepts connections on 127.0.0.1:``port`` (raises if ``process`` dies first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail(log)}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s") from None
            time.sleep(0.05)


def tail(log: Path, chars: int = 4000) -> str:
    """The end of a process's log file (its stdout and stderr: a file, never a pipe that could fill up)."""
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def spawn(argv: list[str], cwd: Path, log: Path, *, new_group: bool = False, **env: str) -> subprocess.Popen[bytes]:
    """Start a process logging to ``log``; ``new_group``: in a process group of its own (see :meth:`ActionServer.kill`)."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=new_group,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env})


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
    """Send ``sig`` and wait; kill after ``timeout``. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class KefuServer:
    """A ``kefu run`` process and its base URL."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    token: str | None = None

    def api(self, path: str) -> str:
        return f"{self.url}{path}" + (f"?token={self.token}" if self.token else "")


@contextmanager
def kefu_run(root: Path, *args: str, token: str | None = None, timeout: float = 60.0) -> Iterator[KefuServer]:
    """``kefu run`` (the real console entry point) on a free port of 127.0.0.1; stopped with SIGINT at the end."""
    port = free_port()
    argv = [sys.executable, "-m", "bot.cli", "run", "-p", str(port), "-i", "127.0.0.1", *args]
    if token:
        argv += ["--enable-api", "--auth-token", token]
    log = root / f"kefu-run-{port}.log"
    process = spawn(argv, root, log)
    try:
        wait_for_port(port, process, "kefu run", timeout, log)
        yield KefuServer(process, f"http://127.0.0.1:{port}", log, token)
    finally:
        stop(process)


class ActionServer:
    """``kefu run actions`` serving :mod:`reliability_actions` (rasa-sdk's own server) on 127.0.0.1:``port``.

    ``kill()`` and ``start()`` again keep the port, as a supervisor restarting it would. rasa-sdk's server
    (Sanic) serves from a worker process under a manager process: the two are one process group here, and
    ``kill`` and ``stop`` signal the whole group (this server's processes only).
    """

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.log = log
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self, timeout: float = 30.0) -> ActionServer:
        self.process = spawn(
            [sys.executable, "-m", "bot.cli", "run", "actions", "--actions", ACTIONS_MODULE, "-p", str(self.port)],
            HERE, self.log, new_group=True, SANIC_HOST="127.0.0.1")
        wait_for_port(self.port, self.process, "kefu run actions", timeout, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL to every process of the server: they die at once, with the requests in flight."""
        self._signal_group(signal.SIGKILL)

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: int, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)  # the group id is the leader's pid (start_new_session)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        deadline = time.monotonic() + timeout  # the workers go with the manager: wait for the port to close
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.process = None


# -- HTTP ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One webhook request as the client saw it."""

    sender: str
    message_id: str
    started: float
    seconds: float
    status: int | None = None  # None: no HTTP response (connection refused or reset)
    body: Any = None
    error: str | None = None


@dataclass
class Load:
    """Outcomes of a load run, with a few views for assertions."""

    outcomes: list[Outcome] = field(default_factory=list)

    def with_status(self, status: int | None) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    def statuses(self) -> dict[int | None, int]:
        counts: dict[int | None, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


async def post_message(http: aiohttp.ClientSession, url: str, sender: str, text: str, message_id: str,
                       timeout: float = 30.0) -> Outcome:
    """POST one message to the REST webhook and record what came back (never raises for transport errors)."""
    started = time.monotonic()
    outcome = Outcome(sender, message_id, started, 0.0)
    try:
        async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text,
                                                                   "message_id": message_id},
                             timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            outcome.status = response.status
            try:
                outcome.body = await response.json(content_type=None)
            except ValueError:
                outcome.body = await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - started
    return outcome


async def fetch_tracker(http: aiohttp.ClientSession, server: KefuServer, sender: str) -> dict[str, Any]:
    path = f"/conversations/{sender}/tracker"
    async with http.get(server.api(path) + ("&" if server.token else "?") + "include_events=ALL") as response:
        assert response.status == 200, await response.text()
        return await response.json()


def user_turns(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The events split into turns, each starting with its ``user`` event (events before the first are dropped)."""
    turns: list[list[dict[str, Any]]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    return turns


def turn_is_complete(turn: list[dict[str, Any]], reply: str = GREETING) -> bool:
    """The user event is followed by the bot's reply and the bot going back to listening."""
    kinds = [(e.get("event"), e.get("name") or e.get("text")) for e in turn[1:]]
    return ("bot", reply) in kinds and kinds[-1] == ("action", "action_listen")


async def until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (sync or async) until it is truthy or ``timeout`` passes; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result or time.monotonic() > deadline:
            return bool(result)
        await asyncio.sleep(interval)
