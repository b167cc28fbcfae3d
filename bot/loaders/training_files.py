"""Find and read training-data files (``nlu``, ``stories``, ``rules``, ``responses`` sections)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ERROR, WARNING, Problem, ProjectError, UserFileError
from bot.loaders.nlu_loader import parse_nlu_section
from bot.loaders.story_loader import parse_story_section
from bot.training_data import NLUData, StoryData
from bot.yaml_reader import PosDict, load_yaml, read_text

SUPPORTED_VERSIONS = ("2.0", "3.0", "3.1")
TRAINING_KEYS = {"version", "nlu", "stories", "rules", "responses"}
YAML_SUFFIXES = (".yml", ".yaml")


@dataclass
class TrainingData:
    """What a set of training files hold, plus every problem found while reading them."""

    nlu: NLUData = field(default_factory=NLUData)
    stories: StoryData = field(default_factory=StoryData)
    responses: dict[str, Any] = field(default_factory=dict)  # retrieval-intent responses (nlu.yml)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    def raise_for_errors(self) -> None:
        """Raise :class:`ProjectError` listing every error, if there is one."""
        if self.errors:
            raise ProjectError(self.errors)


def yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every YAML file in ``paths`` (files as given, directories searched recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def check_version(doc: PosDict, path: str, problems: list[Problem]) -> None:
    """Rasa's ``version:`` key: missing is a warning, an unknown version an error."""
    if "version" not in doc:
        problems.append(
            Problem(path, doc.line, doc.col, WARNING, 'no \'version\' key; assuming "3.1" (add version: "3.1")')
        )
        return
    version = str(doc["version"])
    if version not in SUPPORTED_VERSIONS:
        line, col = doc.vpos("version")
        problems.append(
            Problem(
                path, line, col, ERROR,
                f"unsupported format version '{version}'; Kefu reads {', '.join(SUPPORTED_VERSIONS)} "
                '(quote it: version: "3.1")',
            )
        )


def read_training_file(path: str | Path, result: TrainingData) -> None:
    """Read one training file into ``result``; problems (never exceptions) for bad content."""
    path_str = str(path)
    try:
        text = read_text(path)
        doc = load_yaml(path_str, text, allow_empty=True)
    except UserFileError as exc:
        result.problems.append(exc.problem)
        return
    result.files.append(path_str)
    if doc is None:
        result.problems.append(Problem(path_str, 1, 1, WARNING, "file is empty"))
        return
    if not isinstance(doc, PosDict):
        result.problems.append(
            Problem(path_str, 1, 1, ERROR, "a training-data file must be a mapping with 'version' and 'nlu'/'stories'/'rules'")
        )
        return
    check_version(doc, path_str, result.problems)
    for key in doc:
        if key not in TRAINING_KEYS:
            line, col = doc.pos(key)
            result.problems.append(
                Problem(path_str, line, col, WARNING, f"unknown top-level key '{key}' (expected one of {sorted(TRAINING_KEYS)})")
            )
    file_lines = text.splitlines()
    if "nlu" in doc and doc["nlu"] is not None:
        result.nlu.merge(parse_nlu_section(doc["nlu"], path_str, file_lines, result.problems))
    for kind in ("stories", "rules"):
        if kind in doc and doc[kind] is not None:
            parsed = parse_story_section(doc[kind], kind, path_str, result.problems)
            result.stories.merge(parsed)
    if isinstance(doc.get("responses"), dict):
        result.responses.update(doc["responses"])


def load_training_data(paths: Iterable[str | Path]) -> TrainingData:
    """Read every YAML file under ``paths`` (Rasa looks anywhere under ``data/``)."""
    result = TrainingData()
    for path in yaml_files(paths):
        read_training_file(path, result)
    return result


def load_nlu_data(paths: str | Path | Iterable[str | Path]) -> NLUData:
    """Just the NLU examples of ``paths``; raises :class:`ProjectError` listing every error."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    data = load_training_data(paths)
    data.raise_for_errors()
    return data.nlu
