"""Fixtures of the backend tests: a seeded order database (SQLite, or PostgreSQL when it answers) at a fixed
'now', and one small two-tower model trained per test session (shared with tests/actions through basetemp)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends.orders.seed import seed_orders
from backends.orders.service import OrderService, create_db_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SEED_CUSTOMERS = 12


def fixed_clock() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite file, built once; tests work on copies."""
    path = tmp_path_factory.mktemp("orders-seed") / "orders.db"
    service = OrderService.from_url(f"sqlite:///{path}", clock=fixed_clock)
    seed_orders(service, n_customers=SEED_CUSTOMERS, now=NOW)
    service.close()
    return path


@pytest.fixture
def sqlite_orders(seeded_sqlite: Path, tmp_path: Path) -> Iterator[OrderService]:
    """A fresh copy of the seeded database for one test."""
    path = tmp_path / "orders.db"
    shutil.copy(seeded_sqlite, path)
    service = OrderService.from_url(f"sqlite:///{path}", create=False, clock=fixed_clock)
    yield service
    service.close()


@pytest.fixture(scope="module")
def postgres_orders(postgres_url: str) -> Iterator[OrderService]:
    """The same seed in a private schema of the local PostgreSQL, once per module (skipped when none answers)."""
    from sqlalchemy import text

    schema = f"kefu_orders_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    service = OrderService.from_url(postgres_url, schema=schema, clock=fixed_clock)
    seed_orders(service, n_customers=SEED_CUSTOMERS, now=NOW)
    try:
        yield service
    finally:
        service.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def reco_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-tower model trained once per session on the small preset (tests/actions reuses the same one)."""
    from backends.recommend.train import TrainConfig, train_recommender

    out = tmp_path_factory.getbasetemp() / "reco-small"
    if not (out / "report.json").exists():
        train_recommender(TrainConfig.small(), out_dir=out, cache_dir=REPO_ROOT / ".kefu" / "cache", progress=False)
    return out
