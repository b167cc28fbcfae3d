"""Project-wide fixtures: paths, and real services (Redis, PostgreSQL) for tests that need them.

- ``redis_url``: Redis at 127.0.0.1:6379 if it answers PING, else a private ``redis-server``
  (Debian's, from ``make system-deps``) on a free port, stopped after the session.
- ``redis_server_factory``: private ``redis-server`` processes a test may stop and start again.
- ``postgres_url``: PostgreSQL at 127.0.0.1:5432 (database ``test``), or the test is skipped.
``KEFU_TEST_REDIS_URL`` / ``KEFU_TEST_POSTGRES_URL`` point these at other servers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_REDIS = ("127.0.0.1", 6379)
LOCAL_POSTGRES = ("127.0.0.1", 5432, "test")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a Redis at host:port answers PING without a password."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis_server_binary() -> str:
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.skip("no Redis answers at 127.0.0.1:6379 and redis-server is not installed (run `make system-deps`)")
    return found


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1 without persistence; ``stop()`` and ``start()`` again keep its port.

    :param workdir: where it runs and logs
    :param port: its port (default: a free one)
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "redis.log"
        self.process = subprocess.Popen(
            [_redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not redis_answers("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{text}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop's model as ``kefu train`` makes it from the repo's files (NLU, rules, memoization and
    TED with its RL stage), trained once per session."""
    from bot.model_archive import train_model
    from bot.project import load_project

    project = load_project(root=REPO_ROOT)
    project.raise_for_errors()
    return train_model(project, tmp_path_factory.mktemp("demo-model")).path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir(repo_root: Path) -> Path:
    shared = repo_root.parent / "shared"
    if not shared.is_dir():
        pytest.skip("../shared is absent")
    return shared


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis URL for the session: the local one, or a private server started (and stopped) here."""
    if os.environ.get("KEFU_TEST_REDIS_URL"):
        yield os.environ["KEFU_TEST_REDIS_URL"]
        return
    if redis_answers(*LOCAL_REDIS):
        yield f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/0"
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[[], RedisServer]]:
    """Start private Redis servers (stopped after the test): ``server = redis_server_factory()``."""
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}").start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A SQLAlchemy URL of the local PostgreSQL's ``test`` database; skips when none answers."""
    if os.environ.get("KEFU_TEST_POSTGRES_URL"):
        return os.environ["KEFU_TEST_POSTGRES_URL"]
    import psycopg

    host, port, dbname = LOCAL_POSTGRES
    errors = []
    for user in dict.fromkeys(("postgres", "root", os.environ.get("USER") or "postgres")):
        try:
            with psycopg.connect(host=host, port=port, dbname=dbname, user=user, connect_timeout=2):
                return f"postgresql+psycopg://{user}@{host}:{port}/{dbname}"
        except psycopg.Error as error:
            errors.append(f"{user}: {str(error).strip().splitlines()[0] if str(error).strip() else error}")
    pytest.skip(f"no PostgreSQL answers at {host}:{port} (database {dbname}): {'; '.join(errors)}")
