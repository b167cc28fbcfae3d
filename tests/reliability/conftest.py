"""Fixtures of the fault tests: one tiny trained project shared by every ``kefu run`` of the session, and one
action server (``kefu run actions``) that tests may kill and start again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import ActionServer, train_project, write_project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with a trained model in ``models/`` (tests add their own endpoints files)."""
    root = write_project(tmp_path_factory.mktemp("reliability-project"))
    train_project(root)
    return root


@pytest.fixture(scope="session")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    """The action server; a test that kills it starts it again on the same port before it ends."""
    server = ActionServer(tmp_path_factory.mktemp("actions") / "actions.log").start()
    try:
        yield server
    finally:
        server.stop()
