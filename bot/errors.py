"""Kefu's error hierarchy: one base class, and a user-file error that points at a line.

Like ``gymnasium/error.py``: every error Kefu raises on purpose derives from :class:`KefuError`,
so the CLI can print it without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ERROR = "error"
WARNING = "warning"


class KefuError(Exception):
    """Base class of every error Kefu raises deliberately."""


@dataclass(order=True)
class Problem:
    """One problem found in a user's file, printed as ``path:line:col: severity: message``.

    Lines and columns are 1-based (PyYAML marks are 0-based: loaders add 1).
    """

    path: str
    line: int = 0
    col: int = 0
    severity: str = field(default=ERROR, compare=False)
    message: str = field(default="", compare=True)

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


class ProblemSink:
    """Collects the problems found in one file, each at a ``(line, col)`` position."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def error(self, pos: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.path, pos[0], pos[1], ERROR, message))

    def warning(self, pos: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.path, pos[0], pos[1], WARNING, message))


class UserFileError(KefuError):
    """A user's file cannot be used; carries the :class:`Problem` that says where and why."""

    def __init__(self, path: str | Path, line: int, col: int, message: str) -> None:
        self.problem = Problem(str(path), line, col, ERROR, message)
        super().__init__(str(self.problem))

    @property
    def path(self) -> str:
        return self.problem.path

    @property
    def line(self) -> int:
        return self.problem.line

    @property
    def col(self) -> int:
        return self.problem.col

    @property
    def message(self) -> str:
        return self.problem.message


class ProjectError(KefuError):
    """A project has one or more errors; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
