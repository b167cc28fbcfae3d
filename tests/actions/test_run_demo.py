"""scripts/run_demo.py (`make demo`): starts orders, reco, actions and the bot in order, prefixes their logs, stops
them all on SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_demo_starts_everything_and_shuts_down_cleanly(tmp_path: Path, reco_model_dir: Path) -> None:
    ports = free_ports(4)
    no_models = tmp_path / "models"  # the bot starts (and listens) without a trained model
    no_models.mkdir()
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(
        [sys.executable, "scripts/run_demo.py", "--no-color", "--db", f"sqlite:///{tmp_path / 'o.db'}",
         "--seed-customers", "5", "--model-dir", str(reco_model_dir), "--actions-port", str(ports[0]),
         "--orders-port", str(ports[1]), "--reco-port", str(ports[2]), "--bot-port", str(ports[3]),
         "--bot-model", str(no_models)],
        cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "demo running" not in log.read_text() and demo.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "demo running" in log.read_text(), log.read_text()[-3000:]
        for p in ports[:3]:
            with urllib.request.urlopen(f"http://127.0.0.1:{p}/health", timeout=5) as reply:
                assert reply.status == 200
        # the bot serves the API with --enable-api, so it must bind loopback (it refuses 0.0.0.0 without a token)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[3]}/status", timeout=5) as reply:
            assert reply.status == 200
        time.sleep(1.5)  # let Sanic finish installing its signal handlers
        os.kill(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=40) == 0
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    text = log.read_text()
    for prefix in ("[orders]", "[reco]", "[actions]", "[bot]", "[demo]"):
        assert prefix in text
    assert "all processes stopped" in text
    for p, path in zip(ports, ["/health"] * 3 + ["/status"], strict=True):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{p}{path}", timeout=1)
            raise AssertionError(f"port {p} still answers after shutdown")
        except OSError:
            pass
