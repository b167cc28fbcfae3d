"""``kefu data validate``: check a project before training (Rasa's flag names)."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.markup import escape

from bot.project import load_project
from bot.validator import validate_project


def add_validate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", "-d", default="domain.yml", help="domain file or directory")
    parser.add_argument("--data", nargs="+", default=["data"], help="training data files or directories")
    parser.add_argument("--config", "-c", default="config.yml", help="model configuration file")
    parser.add_argument("--fail-on-warnings", action="store_true", help="exit 1 on warnings too")
    parser.add_argument("--max-history", type=int, default=None, help="(accepted for Rasa compatibility)")


def run_validate(args: argparse.Namespace) -> int:
    """Print every problem as ``path:line:col: severity: message``; exit 1 on errors."""
    console = Console(highlight=False, soft_wrap=True)
    started = time.perf_counter()
    project = load_project(domain=args.domain, config=args.config, data=args.data)
    problems = validate_project(project)
    for problem in problems:
        style = "red" if problem.is_error else "yellow"
        console.print(f"[{style}]{escape(str(problem))}[/{style}]", markup=True, highlight=False)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    domain = project.domain
    training = project.training
    elapsed = time.perf_counter() - started
    summary = (
        f"{len(domain.intents)} intents, {len(domain.entities)} entities, {len(domain.slots)} slots, "
        f"{len(domain.responses)} responses, {len(domain.forms)} forms, {len(training.nlu.examples)} NLU examples, "
        f"{len(training.stories.stories)} stories, {len(training.stories.rules)} rules "
        f"({len(training.files)} data files) — {errors} error(s), {warnings} warning(s) in {elapsed:.2f}s"
    )
    if errors or (warnings and args.fail_on_warnings):
        console.print(f"[red]Validation failed:[/red] {summary}")
        return 1
    console.print(f"[green]Project is valid:[/green] {summary}")
    return 0
