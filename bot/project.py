"""A whole Rasa-style project on disk: domain, config and training data, read together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain import Domain
from bot.errors import Problem, ProjectError, UserFileError
from bot.loaders.config_loader import ProjectConfig, parse_config
from bot.loaders.domain_loader import LoadedDomain, read_domain
from bot.loaders.training_files import TrainingData, load_training_data
from bot.training_data import ActionStep

DEFAULT_DOMAIN = "domain.yml"
DEFAULT_CONFIG = "config.yml"
DEFAULT_DATA = "data"


@dataclass
class Project:
    """Everything read from a project, plus every problem found while reading it."""

    loaded_domain: LoadedDomain
    config: ProjectConfig
    training: TrainingData
    problems: list[Problem] = field(default_factory=list)

    @property
    def domain(self) -> Domain:
        return self.loaded_domain.domain

    @property
    def all_problems(self) -> list[Problem]:
        return sorted(self.loaded_domain.problems + self.training.problems + self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.all_problems if p.is_error]

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ProjectError(self.errors)


def load_project(
    domain: str | Path = DEFAULT_DOMAIN,
    config: str | Path = DEFAULT_CONFIG,
    data: list[str | Path] | None = None,
    root: str | Path = ".",
) -> Project:
    """Read a project's files (paths relative to ``root``); never raises for bad file content."""
    root = Path(root)
    domain_path = root / domain
    config_path = root / config
    data_paths = [root / d for d in (data or [DEFAULT_DATA])]
    problems: list[Problem] = []
    if not domain_path.exists():
        problems.append(Problem(str(domain_path), 0, 0, "error", "domain file not found"))
    loaded_domain = read_domain(domain_path) if domain_path.exists() else LoadedDomain(domain=Domain())
    if config_path.exists():
        try:
            project_config = parse_config(config_path, problems)
        except UserFileError as exc:
            problems.append(exc.problem)
            project_config = ProjectConfig(path=str(config_path))
    else:
        problems.append(Problem(str(config_path), 0, 0, "warning", "config file not found; using defaults"))
        project_config = ProjectConfig()
    for path in data_paths:
        if not path.exists():
            problems.append(Problem(str(path), 0, 0, "error", "training data path not found"))
    training = load_training_data([p for p in data_paths if p.exists()])
    retrieval_intents = sorted({e.base_intent for e in training.nlu.examples if e.intent != e.base_intent})
    loaded_domain.domain.mark_retrieval_intents(retrieval_intents, _plain_responses(training.responses))
    loaded_domain.domain.add_action_texts(_bot_texts(training))
    return Project(loaded_domain, project_config, training, problems)


def _bot_texts(training: TrainingData) -> list[str]:
    """Every end-to-end ``bot:`` text of the stories and rules, in file order."""
    texts: list[str] = []
    for block in training.stories.stories + training.stories.rules:
        for step in block.steps:  # ``or`` alternatives and conditions hold no bot steps
            if isinstance(step, ActionStep) and not step.action and step.bot_text and step.bot_text not in texts:
                texts.append(step.bot_text)
    return texts


def _plain_responses(responses: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A training file's ``responses:`` as the domain holds them (lists of plain variation dicts)."""
    return {str(name): [dict(v) for v in variations if isinstance(v, dict)]
            for name, variations in responses.items() if isinstance(variations, list)}
