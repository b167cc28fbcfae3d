"""Everything an env needs that does not change between dialogues, read once and shared.

A :class:`SimulatorWorld` holds the project's domain and training stories, the task catalog, the
``simulator.yml`` config, the shop (its actions and backends, :mod:`simulator.shop`), Kefu's handoff settings
from ``endpoints.yml`` and the goal pool. Vector envs share one world in process (each env forks its own shop
database); ``SubprocVecEnv`` pickles it to each worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain import Domain
from bot.loaders.endpoints_loader import load_endpoints
from bot.offers import OfferSettings
from bot.processor import HandoffSettings
from bot.training_data import NLUData, StoryData
from simulator.config import SimulatorConfig, load_simulator_config
from simulator.goals import GoalPool
from simulator.shop import SimulatedShop
from simulator.tasks import TaskCatalog, build_task_catalog


@dataclass
class SimulatorWorld:
    """A shop as the simulator sees it.

    :param domain: the project's domain
    :param stories: stories and rules (tasks are derived from them; warm starts learn from them)
    :param nlu: the project's NLU examples (the text level renders from them)
    :param config: ``simulator.yml``
    :param catalog: the tasks
    :param shop: the shop's actions and backends
    :param goals: the goal pool (train / held-out split)
    :param root: the project directory
    """

    domain: Domain
    stories: StoryData
    nlu: NLUData
    config: SimulatorConfig
    catalog: TaskCatalog
    shop: SimulatedShop
    goals: GoalPool
    root: str = "."
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    offers: OfferSettings = field(default_factory=OfferSettings)

    @property
    def max_turns(self) -> int:
        return self.config.max_turns


def build_world(domain: Domain, stories: StoryData, config: SimulatorConfig, nlu: NLUData | None = None,
                root: str = ".", handoff: HandoffSettings | None = None,
                offers: OfferSettings | None = None) -> SimulatorWorld:
    """A world from objects already in memory (tests build fixture shops this way)."""
    catalog = build_task_catalog(domain, stories, config)
    shop = SimulatedShop(domain, config, root)
    goals = GoalPool(catalog, config, shop)
    return SimulatorWorld(domain, stories, nlu or NLUData(), config, catalog, shop, goals, root,
                          handoff or HandoffSettings(), offers or OfferSettings())


ENDPOINTS_FILE = "endpoints.yml"
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
    world = world_of_project(project, root, config_path, **overrides)
    _WORLD_CACHE[key] = world
    return world


def world_of_project(project: Any, root: str | Path = ".", config_path: str | Path | None = None,
                     **overrides: Any) -> SimulatorWorld:
    """The world of a project already loaded (``kefu train``'s), with ``simulator.yml`` and ``endpoints.yml``
    from ``root``."""
    config = load_simulator_config(config_path, root=root)
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    endpoints_file = Path(root) / ENDPOINTS_FILE
    served = load_endpoints(endpoints_file).other if endpoints_file.exists() else {}
    return build_world(project.domain, project.training.stories, config, project.training.nlu, root=str(root),
                       handoff=HandoffSettings.from_config(served.get("handoff")),
                       offers=OfferSettings.from_config(served.get("offers")))
