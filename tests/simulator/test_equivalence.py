"""One world: a simulated dialogue writes the same events through the env as through `kefu run`'s REST webhook.

The same trained model chooses the bot's actions on both sides: `kefu run` (a real server process, its own
policy ensemble, a real rasa-sdk action server over HTTP) and the env (the same model as a
:class:`~simulator.served.ServedAgent`, predicting with the processor's own ``predict_next_action`` on the env's
tracker, ``masks="served"``; the env runs the actions in process). The shopper's messages are sent as
``/intent{...}@confidence`` payloads, so both sides get the same NLU output. After every turn the conversation's
events must be identical, apart from what only says *when* and *through which channel* (timestamps, message ids,
the input channel) and *which policy* of the ensemble voted (the env's step takes an action, not a vote).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.constants import ACTION_LISTEN_NAME
from simulator.engine import comparable_events
from simulator.env import CustomerServiceEnv
from simulator.remote import PayloadChannel
from simulator.served import ServedAgent
from tests.simulator.test_served_policy import REPO_ROOT, _action_server, _free_port, _model_folder

DIALOGUES = 200
CHANNEL_KEYS = ("input_channel", "policy", "confidence")


def _same(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in CHANNEL_KEYS} for e in comparable_events(events)]


@contextmanager
def _kefu_run(model: Any, action_url: str, tmp_path: Any) -> Iterator[str]:
    """`kefu run --enable-api` on a free loopback port; yields its base URL."""
    port = _free_port()
    endpoints = tmp_path / "endpoints.yml"
    # stored unmasked, so the stored conversation is the live one (the env keeps only the live one)
    endpoints.write_text(f"action_endpoint:\n  url: {action_url}\nprivacy:\n  mask: []\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--model", str(model), "--enable-api",
                                "--endpoints", str(endpoints), "-i", "127.0.0.1", "-p", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/status", timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()[-2000:]) from None  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise RuntimeError("kefu run did not start in time") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def _post(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST ``body`` (GET without one) to ``url + path``; the decoded JSON reply."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def _replay(env: CustomerServiceEnv, served: ServedAgent, url: str, dialogues: int,
            before_each: Any = None, same: Any = None) -> tuple[int, set[str], set[str]]:
    """Play ``dialogues`` through the env and, turn by turn, through the server at ``url``; assert the same events.
    Returns (turns compared, outcomes, tasks)."""
    same = same or _same
    channel = env.channel
    compared_turns = 0
    outcomes: set[str] = set()
    tasks: set[str] = set()
    for dialogue in range(dialogues):
        if before_each is not None:
            before_each()
        sender = f"shopper-{dialogue}"
        env.engine.sender_id = sender
        channel.said.clear()
        _, start = env.reset(seed=dialogue)
        tasks.add(start["task"])
        done, info = False, {}
        obs = None
        while not done:
            listened_at = len(env.tracker.events)
            action = served.act(env, obs)
            name = env.action_names[action]
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if name == ACTION_LISTEN_NAME or done:
                said = channel.said.pop(0)
                _post(url, "/webhooks/rest/webhook", {"sender": sender, "message": said})
                rest = _post(url, f"/conversations/{sender}/tracker?include_events=ALL")["events"]
                # the turn ends where the bot listened, or where the dialogue ended (the server may go on to listen)
                mine = env.tracker.events if done else env.tracker.events[: listened_at + 1]
                if done:
                    rest = rest[: len(mine)]
                assert same(rest) == same(mine), (
                    f"dialogue {dialogue}, after '{said}': server {[e.get('name') or e['event'] for e in rest[-8:]]} "
                    f"env {[e.get('name') or e['event'] for e in mine[-8:]]} ({info.get('outcome')})")
                compared_turns += 1
        outcomes.add(info["outcome"])
    return compared_turns, outcomes, tasks


@pytest.mark.timeout(600)
def test_env_and_rest_webhook_write_identical_events(tiny_world, trained_ppo, tiny_nlu_model, tmp_path):
    from bot.agent import Agent
    from simulator.training import POLICY_DIR

    _, out = trained_ppo
    folder = _model_folder(tmp_path, tiny_world, out / POLICY_DIR, tiny_nlu_model)
    served = ServedAgent(Agent.load(folder), "served")  # chooses as kefu run's processor does
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.1, goal_split="all", masks="served")
    env.channel = PayloadChannel(env.channel)
    with _action_server() as action_url, _kefu_run(folder, action_url, tmp_path) as url:
        compared_turns, outcomes, _ = _replay(env, served, url, DIALOGUES)
    assert compared_turns >= 2 * DIALOGUES
    assert len(outcomes) >= 2, outcomes  # successes and failures both replayed


def _wait(url: str, process: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: {process.stderr.read().decode()[-2000:]}") from None  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start in time") from None
            time.sleep(0.2)


@contextmanager
def _demo_stack(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """The demo's action server over HTTP on `kefu backends --simulated-shop`; yields (webhook URL, reseed URL)."""
    orders_port, reco_port, actions_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "KEFU_ORDERS_URL": f"http://127.0.0.1:{orders_port}", "KEFU_RECO_URL": f"http://127.0.0.1:{reco_port}"}
    reco = REPO_ROOT / "models" / "recommender"  # in process the shop uses it when trained; so does the server
    only = [] if (reco / "params.json").exists() else ["--only", "orders"]
    backends = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "backends", "--simulated-shop", "--db", f"sqlite:///{tmp_path / 'shop.db'}",
         "--orders-port", str(orders_port), "--reco-port", str(reco_port), "--host", "127.0.0.1",
         "--model-dir", str(reco), *only], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    actions = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "actions", "-p", str(actions_port)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(f"http://127.0.0.1:{orders_port}/health", backends, "kefu backends")
        _wait(f"http://127.0.0.1:{actions_port}/actions", actions, "kefu run actions")
        yield f"http://127.0.0.1:{actions_port}/webhook", f"http://127.0.0.1:{orders_port}/simulation/reseed"
    finally:
        for process in (actions, backends):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def _same_but_wording(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo's responses have several variations, drawn at random by each process: the response's name and
    data must match, not which variation was drawn."""
    return [{k: v for k, v in e.items() if not (e.get("event") == "bot" and k == "text")} for e in _same(events)]


@pytest.mark.timeout(900)
def test_demo_shop_env_and_rest_webhook_write_identical_events(demo_world, tmp_path, monkeypatch):
    from bot.agent import Agent
    from bot.model_archive import train_model
    from bot.project import load_project

    monkeypatch.chdir(REPO_ROOT)
    project = load_project()
    # the demo's dialogue model as `kefu train` makes it, less its RL stage (minutes; tested in test_rl_stage.py):
    # what is compared is the engine, not the policy
    project.config.policies = [{k: v for k, v in p.items() if k != "rl"} for p in project.config.policies]
    folder = train_model(project, tmp_path / "models", parts=("core",)).path.resolve()
    served = ServedAgent(Agent.load(folder), "served")
    env = CustomerServiceEnv(world=demo_world, nlu_error=0.1, goal_split="all", masks="served")
    env.channel = PayloadChannel(env.channel)
    with _demo_stack(tmp_path) as (action_url, reseed_url), _kefu_run(folder, action_url, tmp_path) as url:
        compared_turns, outcomes, tasks = _replay(env, served, url, DIALOGUES,
                                                  before_each=lambda: _post(reseed_url, "", {}),
                                                  same=_same_but_wording)
    assert compared_turns >= 2 * DIALOGUES
    assert tasks == set(demo_world.catalog.tasks), tasks  # every task of the shop was replayed
    assert {"success", "handoff"} <= outcomes, outcomes
