"""`kefu run` as real processes: serving a trained model, hot swap, and two replicas sharing Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dialogue_support import free_port
from tiny_project import train_core, write_project

from bot.server import Settings, create_app

RUN = ("import argparse, sys; from bot.commands import run_cmd; p = argparse.ArgumentParser(); "
       "run_cmd.add_args(p); sys.exit(run_cmd.run(p.parse_args(sys.argv[1:])))")
# the `kefu` console script itself: every command's arguments are built before `run` starts
RUN_CLI = "import sys; from bot.cli import main; sys.exit(main(['run', *sys.argv[1:]]))"


@contextmanager
def kefu_run(root: Path, *args: str, timeout: float = 60.0) -> Iterator[str]:
    """A `kefu run` process on a free port, answering: its base URL."""
    with kefu_process(root, *args, timeout=timeout) as (_process, url):
        yield url


@contextmanager
def kefu_process(root: Path, *args: str, timeout: float = 60.0,
                 code: str = RUN) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start ``code`` (a `kefu run` entry point) with ``args`` and wait until it accepts connections."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", code, "-p", str(port), "-i", "127.0.0.1", *args], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stdout.read().decode()[-3000:]) from None  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise RuntimeError("kefu run did not start") from None
                time.sleep(0.1)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(tmp_path_factory.mktemp("shop"))
    (root / "endpoints.yml").write_text("")
    train_core(root)
    return root


async def test_kefu_run_serves_the_model_with_api_and_token(project: Path) -> None:
    with kefu_run(project, "--enable-api", "--auth-token", "tok", "--cors", "*") as url:
        async with aiohttp.ClientSession() as http:
            reply = await http.post(f"{url}/webhooks/rest/webhook", json={"sender": "a", "message": "/greet"})
            assert await reply.json() == [{"recipient_id": "a", "text": "Hi!"}]
            assert (await http.get(f"{url}/status")).status == 401
            status = await (await http.get(f"{url}/status?token=tok")).json()
            assert status["model_file"].startswith("models/") and status["model_id"]
            bad = await http.post(f"{url}/webhooks/rest/webhook", data=b"{oops")
            assert bad.status == 400 and (await bad.json())["field"] == "body"


async def test_the_kefu_command_serves_without_loading_pytorch(project: Path) -> None:
    """`kefu run` never imports torch (2-3 s of a cold start on 2 cores): not for its argument parser (the
    recommender's training settings), the stores or the policies (NLU and the ML policy: their own tests)."""
    with kefu_process(project, code=RUN_CLI) as (process, url):
        async with aiohttp.ClientSession() as http:
            reply = await http.post(f"{url}/webhooks/rest/webhook", json={"sender": "a", "message": "/greet"})
            assert await reply.json() == [{"recipient_id": "a", "text": "Hi!"}]
        libraries = Path(f"/proc/{process.pid}/maps").read_text()
    assert "libpython" in libraries or "python" in libraries
    assert "libtorch" not in libraries and "torch/_C" not in libraries


async def test_put_model_hot_swaps_without_dropping_conversations(project: Path, tmp_path: Path,
                                                                  aiohttp_client: Any) -> None:
    other = write_project(tmp_path / "v2")
    (other / "domain.yml").write_text((other / "domain.yml").read_text().replace('"Hi!"', '"Hello again!"'))
    new_model = train_core(other)
    client = await aiohttp_client(create_app(Settings(model_path=str(project / "models"), enable_api=True)))
    first = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "/greet"})
    assert (await first.json())[0]["text"] == "Hi!"
    bad = await client.put("/model", json={"model_file": str(tmp_path / "missing")})
    assert bad.status == 400 and (await bad.json())["field"] == "model_file"
    swapped = await client.put("/model", json={"model_file": str(new_model)})
    assert swapped.status == 204
    second = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "/greet"})
    assert (await second.json())[0]["text"] == "Hello again!"
    tracker = await (await client.get("/conversations/s/tracker")).json()
    assert sum(e["event"] == "user" for e in tracker["events"]) == 2
    assert (await (await client.get("/status")).json())["model_file"] == str(new_model)


async def test_two_replicas_share_redis_and_keep_turns_in_order(project: Path, redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    base = redis_url.rsplit("/", 1)[0]
    (project / "endpoints-redis.yml").write_text(
        f"tracker_store:\n  type: redis\n  url: {base}/0\n  key_prefix: {prefix}\n"
        f"lock_store:\n  type: redis\n  url: {base}/1\n  key_prefix: {prefix}\n")
    count = 100
    with kefu_run(project, "--endpoints", "endpoints-redis.yml", "--enable-api") as one, \
            kefu_run(project, "--endpoints", "endpoints-redis.yml", "--enable-api") as two:
        async with aiohttp.ClientSession() as http:
            async def send(i: int) -> list[dict[str, Any]]:
                url = one if i % 2 else two
                reply = await http.post(f"{url}/webhooks/rest/webhook",
                                        json={"sender": "shared", "message": "/greet"})
                assert reply.status == 200
                return await reply.json()

            replies = await asyncio.gather(*(send(i) for i in range(count)))
            assert all(r == [{"recipient_id": "shared", "text": "Hi!"}] for r in replies)
            tracker = await (await http.get(f"{one}/conversations/shared/tracker?include_events=ALL")).json()
    kinds = [e["name"] if e["event"] == "action" else e["event"] for e in tracker["events"]
             if e["event"] in ("user", "bot", "action")]
    assert kinds.count("user") == count
    body = kinds[kinds.index("user"):]
    assert body == ["user", "utter_greet", "bot", "action_listen"] * count
