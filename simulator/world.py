"""Everything an env needs that does not change between dialogues, read once and shared.

A :class:`SimulatorWorld` holds the project's domain and training stories, the task catalog, the
``simulator.yml`` config, the shop's systems and the goal pool. Vector envs share one world in
process; ``SubprocVecEnv`` pickles it to each worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain import Domain
from bot.training_data import NLUData, StoryData
from simulator.config import SimulatorConfig, load_simulator_config
from simulator.goals import GoalPool
from simulator.outcomes import OutcomeService, default_outcome_service
from simulator.tasks import TaskCatalog, build_task_catalog


@dataclass
class SimulatorWorld:
    """A shop as the simulator sees it.

    :param domain: the project's domain
    :param stories: stories and rules (tasks are derived from them; warm starts learn from them)
    :param nlu: the project's NLU examples (the text level renders from them)
    :param config: ``simulator.yml``
    :param catalog: the tasks
    :param outcomes: the shop's systems
    :param goals: the goal pool (train / held-out split)
    :param root: the project directory
    """

    domain: Domain
    stories: StoryData
    nlu: NLUData
    config: SimulatorConfig
    catalog: TaskCatalog
    outcomes: OutcomeService
    goals: GoalPool
    root: str = "."

    @property
    def max_turns(self) -> int:
        return self.config.max_turns


def build_world(domain: Domain, stories: StoryData, config: SimulatorConfig, nlu: NLUData | None = None,
                outcomes: OutcomeService | None = None, root: str = ".") -> SimulatorWorld:
    """A world from objects already in memory (tests build fixture shops this way)."""
    catalog = build_task_catalog(domain, stories, config)
    required = {t.action: t.required_slots for t in catalog.tasks.values()}
    if outcomes is None:
        outcomes = default_outcome_service(config.orders, required, config.outcomes)
    goals = GoalPool(catalog, config, outcomes)
    return SimulatorWorld(domain, stories, nlu or NLUData(), config, catalog, outcomes, goals, root)


_WORLD_CACHE: dict[tuple[str, str | None, tuple[tuple[str, Any], ...]], SimulatorWorld] = {}


def load_world(root: str | Path = ".", config_path: str | Path | None = None, **overrides: Any) -> SimulatorWorld:
    """Read the project under ``root`` and its ``simulator.yml`` (cached per process).

    ``overrides`` replace top-level config values (``max_turns=20``, ``goal_pool=500``).
    """
    from bot.project import load_project

    key = (str(Path(root).resolve()), str(config_path) if config_path else None, tuple(sorted(overrides.items())))
    if key in _WORLD_CACHE:
        return _WORLD_CACHE[key]
    project = load_project(root=root)
    project.raise_for_errors()
    config = load_simulator_config(config_path, root=root)
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    world = build_world(project.domain, project.training.stories, config, project.training.nlu, root=str(root))
    _WORLD_CACHE[key] = world
    return world
