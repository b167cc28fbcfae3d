"""``kefu forget --sender ID`` (the right to be forgotten) and ``kefu audit recommendations`` (fairness)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bot.errors import KefuError
from bot.loaders.endpoints_loader import load_endpoints
from bot.privacy.forget import ForgetReport, forget_sender, history_stores_of
from bot.privacy.pii import PrivacySettings


def add_forget_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sender", required=True, help="the conversation / sender id to erase")
    parser.add_argument("--endpoints", default="endpoints.yml", help="endpoints file (stores, privacy: section)")
    parser.add_argument("--audit-log", default=None,
                        help="JSON-lines audit file (default: endpoints.yml privacy.audit_log)")


async def _forget(args: argparse.Namespace) -> ForgetReport:
    from bot.stores import create_lock_store, create_tracker_store

    endpoints = load_endpoints(args.endpoints if Path(args.endpoints).exists() else None)
    privacy = PrivacySettings.from_config(endpoints.other.get("privacy"))
    tracker_store = create_tracker_store(endpoints.tracker_store)
    lock_store = create_lock_store(endpoints.lock_store)
    try:
        return await forget_sender(args.sender, tracker_store, lock_store, history_stores_of(privacy.recommender_url),
                                   args.audit_log or privacy.audit_log)
    finally:
        await tracker_store.close()
        await lock_store.close()


def run_forget(args: argparse.Namespace) -> int:
    """Erase the sender; prints what was deleted where (as JSON). Exit 0 also when nothing was stored."""
    report = asyncio.run(_forget(args))
    print(json.dumps({"sender_hash": report.sender_hash, "stores": report.stores}, indent=2))
    return 0


def add_audit_args(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kefu audit recommendations``."""
    from backends.constants import DEFAULT_RECO_MODEL_DIR
    from backends.shoppers import GROUP_ATTRIBUTES

    parser.add_argument("--model-dir", default=DEFAULT_RECO_MODEL_DIR,
                        help=f"a model written by 'kefu train recommender' (default {DEFAULT_RECO_MODEL_DIR})")
    parser.add_argument("--group", nargs="+", default=list(GROUP_ATTRIBUTES), choices=GROUP_ATTRIBUTES,
                        help="shopper attributes to audit (default all)")
    parser.add_argument("-k", type=int, default=10, help="list length (default 10)")
    parser.add_argument("--max-gap", type=float, default=None,
                        help="re-rank so the exposure (demographic-parity) gap is at most this, and report its cost")
    parser.add_argument("--out", default="results/fairness", help="folder for fairness.json and fairness.png")


def run_audit(args: argparse.Namespace) -> int:
    """Exposure and equal-opportunity gaps per shopper group; writes ``fairness.json`` and ``fairness.png``."""
    from backends.errors import ModelNotReady
    from backends.recommend.fairness import audit_model_dir, format_audit, plot_audit

    if args.max_gap is not None and not 0 < args.max_gap < 1:
        raise KefuError(f"--max-gap must be between 0 and 1 (an exposure difference), got {args.max_gap}")
    try:
        report = audit_model_dir(Path(args.model_dir), args.group, args.k, args.max_gap)
    except ModelNotReady as exc:
        raise KefuError(str(exc)) from exc
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fairness.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_audit(report, out / "fairness.png")
    print(format_audit(report))
    print(f"wrote {out / 'fairness.json'} and {out / 'fairness.png'}")
    return 0
