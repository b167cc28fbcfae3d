"""The real stack on loopback: order service, recommendation service and rasa-sdk action server as subprocesses.

``stack`` starts ``python -m backends orders`` (SQLite file), ``python -m backends reco`` (a small model trained
once per session, shared with tests/backends) and ``python -m rasa_sdk --actions actions`` pointed at them.
``dead_stack`` is an action server whose backends point at ports nobody listens on.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM until it exits (Sanic ignores a signal sent while it is still starting), then SIGKILL."""
    deadline = time.monotonic() + 15
    while process.poll() is None and time.monotonic() < deadline:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=1.5)
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                **(env or {})}
    return subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, env=full_env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


@dataclass
class Stack:
    actions_url: str
    orders_url: str
    reco_url: str
    db_path: Path


@pytest.fixture(scope="session")
def reco_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small-preset model, trained once per session (the same directory tests/backends uses)."""
    from backends.recommend.train import TrainConfig, train_recommender

    out = tmp_path_factory.getbasetemp() / "reco-small"
    if not (out / "report.json").exists():
        train_recommender(TrainConfig.small(), out_dir=out, cache_dir=REPO_ROOT / ".kefu" / "cache", progress=False)
    return out


@pytest.fixture(scope="session")
def domain() -> dict:
    """The demo shop's domain as the bot sends it to the action server."""
    return yaml.safe_load((REPO_ROOT / "domain.yml").read_text())


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, reco_model_dir: Path) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("stack")
    db_path = work / "orders.db"
    ports = {name: free_port() for name in ("orders", "reco", "actions")}
    processes = []
    try:
        orders = start(["-m", "backends", "orders", "--db", f"sqlite:///{db_path}", "--orders-port",
                        str(ports["orders"]), "--seed-customers", "10"], work / "orders.log")
        processes.append(orders)
        reco = start(["-m", "backends", "reco", "--model-dir", str(reco_model_dir), "--reco-port", str(ports["reco"])],
                     work / "reco.log")
        processes.append(reco)
        env = {"KEFU_ORDERS_URL": f"http://127.0.0.1:{ports['orders']}",
               "KEFU_RECO_URL": f"http://127.0.0.1:{ports['reco']}", "KEFU_BACKEND_TIMEOUT": "10"}
        actions = start(["-m", "rasa_sdk", "--actions", "actions", "--port", str(ports["actions"])],
                        work / "actions.log", env)
        processes.append(actions)
        for name, process in zip(("orders", "reco", "actions"), processes, strict=True):
            wait_healthy(f"http://127.0.0.1:{ports[name]}/health", process, work / f"{name}.log")
        yield Stack(f"http://127.0.0.1:{ports['actions']}", env["KEFU_ORDERS_URL"], env["KEFU_RECO_URL"], db_path)
    finally:
        for process in reversed(processes):
            stop(process)


@pytest.fixture(scope="session")
def dead_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An action server whose order and recommendation services are down (nothing listens on their ports)."""
    work = tmp_path_factory.mktemp("dead")
    port = free_port()
    env = {"KEFU_ORDERS_URL": f"http://127.0.0.1:{free_port()}", "KEFU_RECO_URL": f"http://127.0.0.1:{free_port()}",
           "KEFU_BACKEND_TIMEOUT": "2"}
    process = start(["-m", "rasa_sdk", "--actions", "actions", "--port", str(port)], work / "actions.log", env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process, work / "actions.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def tracker_state(sender: str, slots: dict, *, intent: str = "inform", text: str = "", message_id: str = "m1",
                  entities: list | None = None, active_loop: str | None = None, set_this_turn: dict | None = None,
                  metadata: dict | None = None) -> dict:
    """A tracker as Rasa sends it: every domain slot, the latest user message, and this turn's slot events."""
    latest = {"intent": {"name": intent, "confidence": 0.98}, "entities": entities or [], "text": text,
              "message_id": message_id, "metadata": metadata or {}}
    events = [{"event": "action", "name": "action_listen", "timestamp": 1.0},
              {"event": "user", "text": text, "parse_data": latest, "message_id": message_id, "timestamp": 2.0}]
    for name, value in (set_this_turn or {}).items():
        events.append({"event": "slot", "name": name, "value": value, "timestamp": 3.0})
    return {"sender_id": sender, "slots": slots, "latest_message": latest, "events": events, "paused": False,
            "followup_action": None, "active_loop": {"name": active_loop} if active_loop else {},
            "latest_action_name": "action_listen"}


def webhook(url: str, action: str, tracker: dict, domain: dict | None) -> tuple[int, dict]:
    """POST one action call (Rasa's action-server protocol) and return (status, body)."""
    body = json.dumps({"next_action": action, "sender_id": tracker["sender_id"], "tracker": tracker,
                       "domain": domain, "version": "3.6.21"}).encode()
    request = urllib.request.Request(f"{url}/webhook", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="session")
def call(domain: dict):
    """``call(url, action, slots, **tracker_kwargs) -> (status, body)`` with every domain slot present."""

    def _call(url: str, action: str, slots: dict | None = None, *, sender: str = "shopper-1",
              send_domain: bool = True, **kwargs) -> tuple[int, dict]:
        all_slots = {name: None for name in domain["slots"]} | {"requested_slot": None} | (slots or {})
        return webhook(url, action, tracker_state(sender, all_slots, **kwargs), domain if send_domain else None)

    return _call


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    """``spawn(args, port)``: start ``python <args>`` and wait for ``/health`` on ``port``; stopped after the test."""
    processes: list[subprocess.Popen] = []

    def _spawn(args: list[str], port: int) -> subprocess.Popen:
        log = tmp_path / f"process-{len(processes)}.log"
        process = start(args, log)
        processes.append(process)
        wait_healthy(f"http://127.0.0.1:{port}/health", process, log)
        return process

    yield _spawn
    for process in processes:
        stop(process)


@pytest.fixture
def port() -> int:
    return free_port()
