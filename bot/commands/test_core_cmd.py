"""``kefu test core --stories tests/ -m models --out results/ [--e2e]``: evaluate test stories."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from rich.console import Console

from bot.core_test import evaluate_core, evaluate_e2e, write_reports
from bot.errors import KefuError
from bot.loaders.training_files import YAML_SUFFIXES, load_training_data
from bot.model_archive import load_model, resolve_model_path
from bot.training_data import StoryBlock


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stories", "-s", nargs="+", default=["tests"],
                        help="test story files, or folders searched for test_*.yml files")
    parser.add_argument("--model", "-m", default="models", help="a model, or a folder of models (newest is used)")
    parser.add_argument("--out", default="results", help="folder for the reports")
    parser.add_argument("--e2e", action="store_true",
                        help="play the stories end to end: NLU on the user text and the real action server")
    parser.add_argument("--endpoints", default="endpoints.yml", help="endpoints file (action server for --e2e)")
    parser.add_argument("--successes", action="store_true", help="also write successful_test_stories.yml")
    parser.add_argument("--fail-on-prediction-errors", action="store_true",
                        help="exit 1 if any test story fails")


def test_story_files(paths: list[str]) -> list[Path]:
    """Files given as such, plus ``test_*.yml`` files found in given folders (as Rasa does)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("test_*") if p.suffix in YAML_SUFFIXES and p.is_file())
        elif path.exists():
            files.append(path)
        else:
            raise KefuError(f"{path}: test stories not found")
    if not files:
        raise KefuError(f"no test story files (test_*.yml) in {', '.join(paths)}")
    return files


def load_test_stories(paths: list[str], console: Console) -> list[StoryBlock]:
    data = load_training_data(test_story_files(paths))
    for problem in data.problems:
        console.print(f"[{'red' if problem.is_error else 'yellow'}]{problem}[/]")
    data.raise_for_errors()
    return list(data.stories.stories)


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    blocks = load_test_stories(list(args.stories), console)
    model_path = resolve_model_path(args.model)
    started = time.perf_counter()
    agent = load_model(model_path, seed=0, load_nlu=args.e2e)
    if args.e2e:
        results = asyncio.run(_run_e2e(agent, blocks, args.endpoints))
    else:
        results = evaluate_core(agent, blocks)
    report = write_reports(args.out, results, successes=args.successes)
    conversations = report["conversation_accuracy"]
    failed = conversations["total"] - conversations["correct"]
    style = "green" if failed == 0 else "red"
    console.print(
        f"[{style}]{conversations['correct']}/{conversations['total']} test conversations correct "
        f"({conversations['accuracy']:.1%}); action accuracy {report['accuracy']:.1%}[/{style}] "
        f"— model {model_path}, {time.perf_counter() - started:.1f}s, reports in {args.out}/"
    )
    for result in results:
        if not result.correct:
            console.print(f"  [red]failed:[/red] {result.name}" + (f" ({result.source})" if result.source else ""))
    return 1 if failed and args.fail_on_prediction_errors else 0


async def _run_e2e(agent, blocks, endpoints_path):  # type: ignore[no-untyped-def]
    from bot.actions import ActionClient, ActionEndpoint
    from bot.loaders.endpoints_loader import load_endpoints
    from bot.offers import OfferSettings
    from bot.processor import HandoffSettings, MessageProcessor
    from bot.stores import InMemoryLockStore, InMemoryTrackerStore

    endpoints = load_endpoints(endpoints_path)
    endpoint = ActionEndpoint.from_config(endpoints.action_endpoint)
    client = ActionClient(endpoint) if endpoint else None
    handoff = HandoffSettings.from_config(endpoints.other.get("handoff"))
    offers = OfferSettings.from_config(endpoints.other.get("offers"))

    def factory() -> MessageProcessor:
        return MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), client, handoff, offers=offers)

    try:
        return await evaluate_e2e(agent, blocks, factory)
    finally:
        if client is not None:
            await client.close()
