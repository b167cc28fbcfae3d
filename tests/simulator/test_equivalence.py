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
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


@pytest.mark.timeout(600)
def test_env_and_rest_webhook_write_identical_events(tiny_world, trained_ppo, tiny_nlu_model, tmp_path):
    from bot.agent import Agent
    from simulator.training import POLICY_DIR

    _, out = trained_ppo
    folder = _model_folder(tmp_path, tiny_world, out / POLICY_DIR, tiny_nlu_model)
    served = ServedAgent(Agent.load(folder), "served")  # chooses as kefu run's processor does
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.1, goal_split="all", masks="served")
    env.channel = channel = PayloadChannel(env.channel)
    compared_turns = 0
    outcomes: set[str] = set()
    with _action_server() as action_url, _kefu_run(folder, action_url, tmp_path) as url:
        for dialogue in range(DIALOGUES):
            sender = f"shopper-{dialogue}"
            env.engine.sender_id = sender
            channel.said.clear()
            env.reset(seed=dialogue)
            done, info = False, {}
            obs = None
            while not done:
                listened_at = len(env.tracker.events)
                action = served.act(env, obs)
                name = env.action_names[action]
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                if name == ACTION_LISTEN_NAME or done:
                    said = channel.said[0]
                    channel.said.pop(0)
                    _post(url, "/webhooks/rest/webhook", {"sender": sender, "message": said})
                    rest = _post(url, f"/conversations/{sender}/tracker?include_events=ALL")["events"]
                    mine = env.tracker.events[: listened_at + 1] if name == ACTION_LISTEN_NAME else env.tracker.events
                    if done and name != ACTION_LISTEN_NAME:  # the env stops here; the server goes on to listen
                        rest = rest[: len(mine)]
                    assert _same(rest) == _same(mine), f"dialogue {dialogue}, after '{said}'"
                    compared_turns += 1
            outcomes.add(info["outcome"])
    assert compared_turns >= 2 * DIALOGUES
    assert len(outcomes) >= 2, outcomes  # successes and failures both replayed
