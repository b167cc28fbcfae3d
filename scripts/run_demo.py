#!/usr/bin/env python
"""Run the whole demo: order backend, recommendation backend, action server and bot server, in one terminal.

    python scripts/run_demo.py            # what `make demo` runs

Each process's output is prefixed ([orders] [reco] [actions] [bot]). The services start in dependency order,
each one waiting for the previous to answer its health check; the recommender is trained first when no model
exists. Ctrl-C (or SIGTERM) stops every process, last started first; so does any of them exiting. The bot
serves Rasa's HTTP API too (``--enable-api``), so it binds ``--host`` (loopback by default): ``kefu run`` refuses
to expose the API on other interfaces without an auth token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COLORS = {"orders": "\033[36m", "reco": "\033[35m", "actions": "\033[33m", "bot": "\033[32m", "demo": "\033[1m"}
RESET = "\033[0m"


@dataclass
class Proc:
    name: str
    argv: list[str]
    health: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    reader: asyncio.Task | None = None


def say(name: str, line: str, color: bool) -> None:
    prefix = f"[{name}]"
    if color:
        prefix = f"{COLORS.get(name, '')}{prefix}{RESET}"
    print(f"{prefix} {line}", flush=True)


async def pump(proc: Proc, color: bool) -> None:
    assert proc.process is not None and proc.process.stdout is not None
    async for raw in proc.process.stdout:
        say(proc.name, raw.decode(errors="replace").rstrip(), color)


async def healthy(url: str, proc: Proc, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process is not None and proc.process.returncode is not None:
            return False
        try:
            ok = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=1).status == 200)
            if ok:
                return True
        except OSError:
            pass
        await asyncio.sleep(0.3)
    return False


async def start(proc: Proc, color: bool) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **proc.env}
    proc.process = await asyncio.create_subprocess_exec(
        *proc.argv, cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    proc.reader = asyncio.create_task(pump(proc, color))


async def stop(proc: Proc, color: bool, grace: float = 10.0) -> None:
    """SIGTERM to the process group until it exits (Sanic ignores a signal while starting), then SIGKILL."""
    process = proc.process
    if process is None or process.returncode is not None:
        return
    deadline = time.monotonic() + grace
    while process.returncode is None and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 1.5)
    if process.returncode is None:
        say("demo", f"{proc.name} did not stop in {grace:.0f} s: killing it", color)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    if proc.reader is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(proc.reader, 2)


def plan(args: argparse.Namespace) -> list[Proc]:
    py = sys.executable
    orders_url = f"http://127.0.0.1:{args.orders_port}"
    reco_url = f"http://127.0.0.1:{args.reco_port}"
    procs = [
        Proc("orders", [py, "-m", "backends", "orders", "--host", args.host, "--orders-port", str(args.orders_port),
                        "--db", args.db, "--seed-customers", str(args.seed_customers)], f"{orders_url}/health"),
        Proc("reco", [py, "-m", "backends", "reco", "--host", args.host, "--reco-port", str(args.reco_port),
                      "--model-dir", args.model_dir, "--train-if-missing"], f"{reco_url}/health"),
        Proc("actions", [py, "-m", "rasa_sdk", "--actions", "actions", "--port", str(args.actions_port)],
             f"http://127.0.0.1:{args.actions_port}/health",
             env={"KEFU_ORDERS_URL": orders_url, "KEFU_RECO_URL": reco_url}),
    ]
    if not args.no_bot:
        procs.append(Proc("bot", [py, "-m", "bot.cli", "run", "--enable-api", "-i", args.host, "--port",
                              str(args.bot_port), "-m", args.bot_model], f"http://127.0.0.1:{args.bot_port}/"))
    return procs


async def run(args: argparse.Namespace) -> int:
    color = sys.stdout.isatty() and not args.no_color
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_event.set)
    procs = plan(args)
    started: list[Proc] = []
    code = 0
    try:
        for proc in procs:
            if stop_event.is_set():
                break
            await start(proc, color)
            started.append(proc)
            if proc.health and not await healthy(proc.health, proc, args.start_timeout):
                say("demo", f"{proc.name} did not come up (see its log above); stopping the demo", color)
                return 1
        say("demo", f"demo running: bot http://127.0.0.1:{args.bot_port}, actions :{args.actions_port}, orders "
            f":{args.orders_port}, reco :{args.reco_port}. Ctrl-C stops it.", color)
        watchers = {asyncio.create_task(p.process.wait()): p for p in started}
        stopper = asyncio.create_task(stop_event.wait())
        while not stop_event.is_set():
            done, _ = await asyncio.wait([stopper, *watchers], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                proc = watchers.pop(task)
                say("demo", f"{proc.name} exited with {proc.process.returncode}; stopping the demo", color)
                code = 1
                stop_event.set()
        stopper.cancel()
        for task in watchers:
            task.cancel()
    finally:
        say("demo", "shutting down", color)
        for proc in reversed(started):
            await stop(proc, color)
        say("demo", "all processes stopped", color)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--orders-port", type=int, default=5056)
    parser.add_argument("--reco-port", type=int, default=5057)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--bot-port", type=int, default=5005)
    parser.add_argument("--db", default=os.environ.get("KEFU_ORDERS_DB_URL", "sqlite:///.kefu/orders.db"))
    parser.add_argument("--seed-customers", type=int, default=300, help="synthetic customers in a new order database")
    parser.add_argument("--model-dir", default=os.environ.get("KEFU_RECO_MODEL_DIR", "models/recommender"))
    parser.add_argument("--bot-model", default="models", help="the bot's model, or a folder of models (newest)")
    parser.add_argument("--no-bot", action="store_true", help="start the backends and the action server only")
    parser.add_argument("--no-color", action="store_true")
    parser.add_argument("--start-timeout", type=float, default=600.0,
                        help="seconds each service may take to answer its health check (training included)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)

