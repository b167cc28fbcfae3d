"""Read ``config.yml``: recipe, language, assistant_id, pipeline and policies (names kept as given)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ERROR, WARNING, Problem, UserFileError
from bot.yaml_reader import PosDict, PosList, load_yaml

CONFIG_KEYS = {"recipe", "language", "assistant_id", "pipeline", "policies", "importers", "data", "version"}
KNOWN_RECIPES = {"default.v1", "graph.v1"}


@dataclass
class ProjectConfig:
    """The parsed ``config.yml``; each component is a dict with at least ``name``."""

    recipe: str = "default.v1"
    language: str = "en"
    assistant_id: str | None = None
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def component(self, *names: str) -> dict[str, Any] | None:
        """The first pipeline component whose name is one of ``names``."""
        for item in self.pipeline:
            if item.get("name") in names:
                return item
        return None

    def policy(self, *names: str) -> dict[str, Any] | None:
        """The first policy whose name is one of ``names``."""
        for item in self.policies:
            if item.get("name") in names:
                return item
        return None


def _components(doc: PosDict, key: str, path: str, problems: list[Problem]) -> list[dict[str, Any]]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, PosList):
        line, col = doc.vpos(key)
        problems.append(Problem(path, line, col, ERROR, f"'{key}' must be a list of components with 'name'"))
        return []
    out = []
    for index, item in enumerate(raw):
        line, col = raw.pos(index)
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            problems.append(Problem(path, line, col, ERROR, f"each item of '{key}' needs a 'name' (e.g. '- name: RulePolicy')"))
            continue
        component = dict(item)
        component["_pos"] = (line, col)
        out.append(component)
    return out


def parse_config(path: str | Path, problems: list[Problem]) -> ProjectConfig:
    """Parse ``config.yml``; problems go to ``problems``, unreadable files raise :class:`UserFileError`."""
    path_str = str(path)
    doc = load_yaml(path_str, allow_empty=True)
    config = ProjectConfig(path=path_str)
    if doc is None:
        problems.append(Problem(path_str, 1, 1, WARNING, "config file is empty; using Kefu's default pipeline and policies"))
        return config
    if not isinstance(doc, PosDict):
        raise UserFileError(path_str, 1, 1, "config must be a mapping with 'pipeline' and 'policies'")
    for key in doc:
        if key not in CONFIG_KEYS:
            line, col = doc.pos(key)
            problems.append(Problem(path_str, line, col, WARNING, f"unknown config key '{key}' (ignored)"))
    recipe = str(doc.get("recipe") or "default.v1")
    if recipe not in KNOWN_RECIPES:
        line, col = doc.vpos("recipe")
        problems.append(Problem(path_str, line, col, ERROR, f"unknown recipe '{recipe}' (expected default.v1)"))
    config.recipe = recipe
    config.language = str(doc.get("language") or "en")
    config.assistant_id = None if doc.get("assistant_id") is None else str(doc["assistant_id"])
    config.pipeline = _components(doc, "pipeline", path_str, problems)
    config.policies = _components(doc, "policies", path_str, problems)
    config.raw = dict(doc)
    return config


def load_config(path: str | Path) -> ProjectConfig:
    """Parse ``config.yml`` and raise on the first error (for commands that only need the config)."""
    problems: list[Problem] = []
    config = parse_config(path, problems)
    errors = [p for p in problems if p.is_error]
    if errors:
        raise UserFileError(errors[0].path, errors[0].line, errors[0].col, errors[0].message)
    return config
