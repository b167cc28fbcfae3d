"""What was trained in the simulator answers real shoppers: the saved policy, loaded the way `kefu run`
loads a model (``core/`` = a PolicyEnsemble directory), completes a return over the REST webhook."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _action_server() -> Iterator[str]:
    """A real rasa-sdk action server serving tests/simulator/return_actions.py; yields its webhook URL."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "tests.simulator.return_actions", "--port", str(port),
         "--quiet"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()[-2000:]) from None  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise RuntimeError("action server did not start in time") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()


def _model_folder(tmp_path: Any, tiny_world: Any, policy_dir: Any, nlu_dir: str) -> Any:
    """A model directory as `kefu train` writes it (nlu/ + core/), whose dialogue policy is the simulator's."""
    import shutil

    from policies import PolicyEnsemble
    from policies.ml_policy import KefuMLPolicy

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({"model_id": "sim-test", "parts": ["core"]}))
    (folder / "domain.yml").write_text(yaml.safe_dump(json.loads(json.dumps(tiny_world.domain.as_dict())), sort_keys=False))
    PolicyEnsemble([KefuMLPolicy.load(policy_dir)]).save(folder / "core")
    shutil.copytree(nlu_dir, folder / "nlu")
    return folder


async def test_simulator_policy_completes_a_return_over_the_rest_webhook(aiohttp_client, tiny_world, trained_ppo,
                                                                         tiny_nlu_model, tmp_path):
    from bot.loaders.endpoints_loader import Endpoints
    from bot.server import Settings, create_app
    from simulator.training import POLICY_DIR

    _, out = trained_ppo
    folder = _model_folder(tmp_path, tiny_world, out / POLICY_DIR, tiny_nlu_model)
    with _action_server() as url:
        settings = Settings(model_path=str(folder), endpoints=Endpoints(action_endpoint={"url": url}))
        client = await aiohttp_client(create_app(settings))

        async def say(text: str) -> list[str]:
            response = await client.post("/webhooks/rest/webhook", json={"sender": "shopper-1", "message": text})
            assert response.status == 200
            return [m.get("text", "") for m in await response.json()]

        asked = await say("I want to return my shoes")
        assert any("order number" in t for t in asked), asked
        asked = await say("it's A10002")
        assert any("email" in t for t in asked), asked
        done = await say("my email is bob@example.com")
        assert any("Return started for order A10002" in t for t in done), done
