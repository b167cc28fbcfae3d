"""``kefu run actions``, ``kefu backends`` and ``kefu train recommender``.

``kefu run actions`` serves a rasa-sdk actions package exactly as ``python -m rasa_sdk --actions actions`` does
(rasa-sdk's own server, port 5055). The other two delegate to ``backends.cli``. Nothing here imports the
``actions`` package: the action server loads it by name.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ACTIONS_PORT = 5055
ENV_ORDERS_URL = "KEFU_ORDERS_URL"
ENV_RECO_URL = "KEFU_RECO_URL"
ENV_BACKEND_TIMEOUT = "KEFU_BACKEND_TIMEOUT"


def add_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu run actions`` (rasa-sdk's names and defaults)."""
    parser.add_argument("-p", "--port", type=int, default=DEFAULT_ACTIONS_PORT,
                        help=f"port to run the action server at (default {DEFAULT_ACTIONS_PORT})")
    parser.add_argument("--actions", default="actions", help="name of the actions package to load (default actions)")
    parser.add_argument("--cors", nargs="*", type=str,
                        help="enable CORS for the passed origins; use * to allow all origins")
    parser.add_argument("--auto-reload", action="store_true", help="reload changed action modules on each call")
    parser.add_argument("--orders-url", help=f"base URL of the order service (env {ENV_ORDERS_URL}, "
                                             "default http://127.0.0.1:5056)")
    parser.add_argument("--reco-url", help=f"base URL of the recommendation service (env {ENV_RECO_URL}, "
                                           "default http://127.0.0.1:5057)")
    parser.add_argument("--backend-timeout", type=float,
                        help=f"seconds allowed per backend call (env {ENV_BACKEND_TIMEOUT}, default 3)")


def _rasa_sdk_args(args: argparse.Namespace) -> argparse.Namespace:
    from rasa_sdk.endpoint import create_argument_parser

    argv = ["--port", str(args.port), "--actions", args.actions]
    if args.cors is not None:
        argv += ["--cors", *args.cors]
    if args.auto_reload:
        argv.append("--auto-reload")
    if getattr(args, "debug", False):
        argv.append("--debug")
    return create_argument_parser().parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Start rasa-sdk's action server with the project's actions package; returns when it stops."""
    for value, name in ((args.orders_url, ENV_ORDERS_URL), (args.reco_url, ENV_RECO_URL),
                        (args.backend_timeout, ENV_BACKEND_TIMEOUT)):
        if value is not None:
            os.environ[name] = str(value)  # read once by the workers' actions.settings
    # Like `rasa run actions`: the project's own actions/ (the working directory) wins over an installed one.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from rasa_sdk.__main__ import main_from_args

    main_from_args(_rasa_sdk_args(args))
    return 0


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu backends`` (order + recommendation services)."""
    from backends.cli import add_backend_args as add

    add(parser)


def run_backends(args: argparse.Namespace) -> int:
    """Start the order service (port 5056) and the recommendation service (port 5057) until Ctrl-C."""
    from backends.cli import run_backends as run_services

    return run_services(args)


def add_train_reco_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu train recommender``."""
    from backends.cli import add_train_reco_args as add

    add(parser)


def run_train_reco(args: argparse.Namespace) -> int:
    """Train the two-tower recommender; prints Recall@10/NDCG@10 vs popularity, writes report.json + PNG."""
    from backends.cli import run_train_reco as train

    return train(args)


if __name__ == "__main__":  # python -m bot.commands.actions_cmd [--port ...]: the same as `kefu run actions`
    _parser = argparse.ArgumentParser(prog="kefu run actions")
    add_args(_parser)
    sys.exit(run(_parser.parse_args()))
