"""Command-line entry points of the backends (``python -m backends ...``; ``kefu backends`` wraps them).

``add_*_args(parser)`` + ``run_*(args) -> int`` pairs, so ``bot/commands/actions_cmd.py`` and
``backends/__main__.py`` share one implementation. Environment defaults are read once, when the parser is built.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from backends.constants import (
    DEFAULT_HOST,
    DEFAULT_ORDERS_DB_URL,
    DEFAULT_ORDERS_PORT,
    DEFAULT_RECO_MODEL_DIR,
    DEFAULT_RECO_PORT,
    DEFAULT_SEED,
    ENV_ORDERS_DB_URL,
    ENV_ORDERS_PORT,
    ENV_RECO_MODEL_DIR,
    ENV_RECO_PORT,
)

logger = logging.getLogger("backends")

DEFAULT_CACHE_DIR = ".kefu/cache"


@dataclass(frozen=True)
class Service:
    name: str
    app: object
    host: str
    port: int


# ---------------------------------------------------------------------------------------------- arguments


def add_orders_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("order service")
    group.add_argument("--orders-port", type=int, default=int(os.environ.get(ENV_ORDERS_PORT, DEFAULT_ORDERS_PORT)),
                       help=f"port of the order service (default {DEFAULT_ORDERS_PORT}, env {ENV_ORDERS_PORT})")
    group.add_argument("--db", default=os.environ.get(ENV_ORDERS_DB_URL, DEFAULT_ORDERS_DB_URL),
                       help="SQLAlchemy URL of the order database, e.g. postgresql+psycopg://user@host/db "
                            f"(default {DEFAULT_ORDERS_DB_URL}, env {ENV_ORDERS_DB_URL})")
    group.add_argument("--seed-customers", type=int, default=300,
                       help="synthetic customers whose purchases become orders when the database is seeded")
    group.add_argument("--reseed", action="store_true", help="delete every order and seed the database again")
    group.add_argument("--simulated-shop", action="store_true",
                       help="serve the user simulator's shop (its seeded orders and fixed clock; reseeds), so "
                            "`kefu sim evaluate --url` shoppers own real orders; adds POST /simulation/reseed")


def add_reco_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("recommendation service")
    group.add_argument("--reco-port", type=int, default=int(os.environ.get(ENV_RECO_PORT, DEFAULT_RECO_PORT)),
                       help=f"port of the recommendation service (default {DEFAULT_RECO_PORT}, env {ENV_RECO_PORT})")
    group.add_argument("--model-dir", default=os.environ.get(ENV_RECO_MODEL_DIR, DEFAULT_RECO_MODEL_DIR),
                       help=f"trained recommender (default {DEFAULT_RECO_MODEL_DIR}, env {ENV_RECO_MODEL_DIR})")
    group.add_argument("--index", choices=("auto", "exact", "faiss", "faiss-hnsw"), default="auto",
                       help="item index: exact numpy matmul or faiss (auto: exact below 50k items)")
    group.add_argument("--train-if-missing", action="store_true",
                       help="train the recommender first when --model-dir holds no model")


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu backends``: both services, or one with ``--only``."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--only", choices=("orders", "reco"), help="start just one of the two services")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic shop")
    add_orders_args(parser)
    add_reco_args(parser)


def add_train_reco_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu train recommender``."""
    from backends.recommend.train_config import TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--out", default=DEFAULT_RECO_MODEL_DIR, help="model directory to write")
    parser.add_argument("--shoppers", type=int, default=defaults.n_shoppers, help="synthetic shoppers in the log")
    parser.add_argument("--epochs", type=int, default=defaults.n_epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--dim", type=int, default=defaults.dim, help="embedding size of both towers")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.n_threads, help="torch CPU threads")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="where MiniLM item-text embeddings are cached")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------------------------------- commands


def run_train_reco(args: argparse.Namespace) -> int:
    """Train the recommender, print Recall@10/NDCG@10 vs popularity, write the model dir + report."""
    from backends.recommend.train import TrainConfig, train_recommender

    config = TrainConfig(n_shoppers=args.shoppers, n_epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, dim=args.dim, seed=args.seed, n_threads=args.threads)
    out = Path(args.out)
    result = train_recommender(config, out_dir=out, cache_dir=Path(args.cache_dir), progress=not args.no_progress)
    print_report(result.report)
    print(f"model, report.json and training.png written to {out}/")
    return 0


def print_report(report: dict) -> None:
    """The evaluation as a rich table (plain text when rich is missing)."""
    metrics, k = report["metrics"], report["config"]["k"]
    rows = []
    for protocol, source in (("next purchase", metrics["next_purchase"]), ("all later purchases", metrics)):
        for model in ("two_tower", "popularity"):
            rows.append((protocol, model.replace("_", "-"), f"{source[model][f'recall@{k}']:.3f}",
                         f"{source[model][f'ndcg@{k}']:.3f}"))
    probe = report["complements_after_phone"]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for row in rows:
            print("  ".join(row))
    else:
        table = Table(title=f"time-split holdout: {metrics['holdout_users']} shoppers, {report['data']['items']} items")
        for column in ("protocol", "model", f"Recall@{k}", f"NDCG@{k}"):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    nxt = metrics["next_purchase"]
    ratio_next = nxt["two_tower"][f"recall@{k}"] / max(nxt["popularity"][f"recall@{k}"], 1e-9)
    print(f"Recall@{k} two-tower / popularity: next purchase {ratio_next:.2f}x, all later purchases "
          f"{metrics['recall_ratio']:.2f}x")
    print(f"after a phone purchase, {probe['mean_complements']:.2f} of the top {probe['top_n']} fit the phone "
          f"(min {probe['min_complements']}); training {report['timing_s']['training']} s")


def _orders_app(args: argparse.Namespace) -> object:
    from backends.orders.app import create_app
    from backends.orders.seed import seed_orders
    from backends.orders.service import OrderService

    if args.simulated_shop:  # the user simulator's shop: its orders, its fixed clock, seeded afresh
        from backends.simulation import seed_simulated_shop, simulation_clock

        service = OrderService.from_url(args.db, clock=simulation_clock)
        summary = seed_simulated_shop(service)
        logger.info("seeded the simulated shop in %s: %d orders", _redact(args.db), summary.orders)
        return create_app(service, close_on_cleanup=True, reseed_with=lambda: seed_simulated_shop(service))
    service = OrderService.from_url(args.db)
    if args.reseed or service.count_orders() == 0:
        summary = seed_orders(service, n_customers=args.seed_customers, seed=args.seed)
        logger.info("seeded %s: %d customers, %d orders %s", _redact(args.db), summary.customers, summary.orders,
                    json.dumps(summary.by_status))
    else:
        logger.info("order database %s: %d orders", _redact(args.db), service.count_orders())
    return create_app(service, close_on_cleanup=True)


def _reco_app(args: argparse.Namespace) -> object:
    import torch

    from backends.recommend.app import create_app
    from backends.recommend.service import Recommender

    # One small forward per request: intra-op threads only add OpenMP contention (7 ms -> 1.5 ms per request).
    torch.set_num_threads(1)
    model_dir = Path(args.model_dir)
    if not (model_dir / "params.json").exists():
        if not args.train_if_missing:
            raise SystemExit(f"no trained recommender in {model_dir}: run `kefu train recommender --out {model_dir}` "
                             "(or pass --train-if-missing)")
        from backends.recommend.train import TrainConfig, train_recommender

        logger.info("no recommender in %s yet: training one (about a minute)", model_dir)
        result = train_recommender(TrainConfig(seed=args.seed), out_dir=model_dir, cache_dir=Path(DEFAULT_CACHE_DIR))
        print_report(result.report)
    recommender = Recommender.load(model_dir, index=args.index)
    logger.info("recommender from %s: %d items, %d shoppers, index %s", model_dir, len(recommender.catalog),
                len(recommender.histories), recommender.index.name)
    return create_app(recommender)


def run_backends(args: argparse.Namespace) -> int:
    """Start the order service and the recommendation service (or ``--only`` one) until Ctrl-C / SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    services = []
    if args.only in (None, "orders"):
        services.append(Service("orders", _orders_app(args), args.host, args.orders_port))
    if args.only in (None, "reco"):
        services.append(Service("reco", _reco_app(args), args.host, args.reco_port))
    asyncio.run(serve(services))
    return 0


async def serve(services: list[Service]) -> None:
    """Run aiohttp apps on their ports in this loop until SIGINT/SIGTERM, then clean up every app."""
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runners = []
    try:
        for service in services:
            runner = web.AppRunner(service.app, handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, service.host, service.port).start()
            runners.append(runner)
            logger.info("%s service listening on http://%s:%d", service.name, service.host, service.port)
        print("backends ready", flush=True)
        await stop.wait()
        logger.info("shutting down")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends", description="Kefu's shop backends")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, only, text in (("serve", None, "order + recommendation services"),
                             ("orders", "orders", "the order service only"),
                             ("reco", "reco", "the recommendation service only")):
        sub = commands.add_parser(name, help=text)
        add_backend_args(sub)
        sub.set_defaults(handler=run_backends, only=only)
    train = commands.add_parser("train-reco", help="train the two-tower recommender")
    add_train_reco_args(train)
    train.set_defaults(handler=run_train_reco)
    args = parser.parse_args(argv)
    if args.command in ("orders", "reco"):
        args.only = args.command
    return int(args.handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
