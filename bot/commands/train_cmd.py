"""``kefu train``: train NLU and dialogue policies into one model under ``models/`` (unchanged parts reused)."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from bot.model_archive import PARTS, pack_model, train_model
from bot.project import load_project
from bot.validator import validate_project


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default="config.yml", help="model configuration file")
    parser.add_argument("--domain", "-d", default="domain.yml", help="domain file")
    parser.add_argument("--data", nargs="+", default=["data"], help="training data files or directories")
    parser.add_argument("--out", default="models", help="folder for the trained model")
    parser.add_argument("--fixed-model-name", default=None, help="name the model folder instead of a timestamp")
    parser.add_argument("--force", action="store_true", help="retrain every part even if nothing changed")
    parser.add_argument("--seed", type=int, default=42, help="seed for every random step")
    parser.add_argument("--archive", action="store_true", help="also write the model as a single .tar.gz")


def run(args: argparse.Namespace, parts: tuple[str, ...] = PARTS) -> int:
    """Validate the project, then train; prints which parts were trained and which reused."""
    console = Console(highlight=False, soft_wrap=True)
    project = load_project(domain=args.domain, config=args.config, data=args.data)
    problems = validate_project(project)
    for problem in problems:
        style = "red" if problem.is_error else "yellow"
        console.print(f"[{style}]{problem}[/{style}]")
    errors = [p for p in problems if p.is_error]
    if errors:
        console.print(f"[red]Training stopped:[/red] {len(errors)} error(s); fix them and run again")
        return 1
    started = time.perf_counter()
    result = train_model(project, args.out, parts=parts, fixed_model_name=args.fixed_model_name,
                         force=args.force, seed=args.seed)
    elapsed = time.perf_counter() - started
    if result.unchanged:
        console.print(f"Nothing changed since the latest model: [bold]{result.path}[/bold] is up to date "
                      "(use --force to retrain).")
        return 0
    trained = ", ".join(result.trained) or "nothing"
    reused = f"; reused {', '.join(result.reused)}" if result.reused else ""
    console.print(f"[green]Trained {trained}{reused}[/green] in {elapsed:.1f}s → [bold]{result.path}[/bold]")
    if args.archive:
        console.print(f"Archive: {pack_model(result.path)}")
    return 0


def run_core(args: argparse.Namespace) -> int:
    """``kefu train core``: retrain the dialogue policies only (NLU taken from the latest model)."""
    return run(args, parts=("core",))


def run_nlu(args: argparse.Namespace) -> int:
    """``kefu train nlu``: retrain the NLU model only (policies taken from the latest model)."""
    return run(args, parts=("nlu",))


__all__ = ["add_args", "run", "run_core", "run_nlu"]
