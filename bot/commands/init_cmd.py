"""``kefu init [PATH]``: scaffold a new project from the demo shop assistant."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bot.errors import KefuError

PROJECT_FILES = ("domain.yml", "config.yml", "endpoints.yml", "credentials.yml")
PROJECT_DIRS = ("data",)
TEST_FILES = ("tests/test_stories.yml",)


def template_root() -> Path:
    """Where the demo shop's project files live (the Kefu source tree)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "domain.yml").is_file() or not (root / "data").is_dir():
        raise KefuError(
            f"the demo shop template was not found next to Kefu's code ({root}); "
            "install Kefu from its source tree (pip install -e .) to use 'kefu init'"
        )
    return root


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="folder to create the project in (default: here)")
    parser.add_argument("--no-prompt", action="store_true", help="don't ask anything (Rasa's flag)")
    parser.add_argument("--force", action="store_true", help="overwrite existing project files")


def scaffold(target: Path, force: bool = False) -> list[Path]:
    """Copy the demo shop project into ``target``; return the files written."""
    source = template_root()
    target.mkdir(parents=True, exist_ok=True)
    planned = [Path(f) for f in PROJECT_FILES + TEST_FILES]
    for folder in PROJECT_DIRS:
        planned += [p.relative_to(source) for p in sorted((source / folder).rglob("*")) if p.is_file()]
    existing = [p for p in planned if (target / p).exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing[:5])
        raise KefuError(f"{target} already holds project files ({names}); use --force to overwrite")
    written = []
    for rel in planned:
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, destination)
        written.append(destination)
    return written


def run(args: argparse.Namespace) -> int:
    target = Path(args.path)
    written = scaffold(target, force=args.force)
    print(f"Created a Kefu project in {target.resolve()} ({len(written)} files).")
    print("Next: kefu data validate, kefu train, kefu shell")
    return 0
