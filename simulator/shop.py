"""The shop a simulated dialogue happens in: the project's own actions, run in process on its own backends.

A :class:`SimulatedShop` holds
- the project's rasa-sdk actions package, run by rasa-sdk's executor in this process
  (:class:`bot.actions.in_process.InProcessActionClient`): the classes the action server serves;
- the backends those actions call, when the project has them (the ``backends`` package: a seeded in-memory order
  database and the trained recommender, bound with :func:`actions.clients.use_backends`, no HTTP); each dialogue
  runs in its own transaction, rolled back when the next one starts;
- the orders simulated shoppers own: the seeded ones, or ``orders:`` in ``simulator.yml`` for a shop without
  backends.

Whether a goal is achievable is asked of the real action too (:meth:`run`): the live engine runs it on a fresh
conversation holding the shopper's true values (memoised: the answer depends on nothing else).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from simulator.config import SimulatorConfig
from simulator.outcomes import OrderFacts, Outcome

logger = logging.getLogger(__name__)

BACKENDS_MODULE = "backends.simulation"
DEFAULT_ACTIONS_PACKAGE = "actions"

_RECOMMENDERS: dict[str, Any] = {}  # trained recommenders are read-only: one per model folder and process


def _backends_api() -> Any | None:
    try:
        return importlib.import_module(BACKENDS_MODULE)
    except ImportError:
        return None


def actions_package(config: SimulatorConfig, root: str | Path) -> str | None:
    """The actions package to run in process: ``actions:`` in simulator.yml, else the project's ``actions``."""
    root_dir = str(Path(root).resolve())
    if root_dir not in sys.path:
        sys.path.insert(0, root_dir)  # like `kefu run actions`: the project's own actions/ wins
    if config.actions:
        return config.actions
    has_own = (Path(root) / DEFAULT_ACTIONS_PACKAGE).is_dir() or (Path(root) / f"{DEFAULT_ACTIONS_PACKAGE}.py").exists()
    return DEFAULT_ACTIONS_PACKAGE if has_own else None


class SimulatedShop:
    """The project's actions and backends for simulated dialogues (see the module docstring).

    :param domain: the project's domain
    :param config: ``simulator.yml``
    :param root: the project directory
    :param seed: seed of the backends' order generator (None: theirs, ``SIMULATION_SEED``)
    :param n_orders: orders simulated shoppers may own (None: ``SIMULATION_ORDERS``)
    """

    def __init__(self, domain: Any, config: SimulatorConfig, root: str | Path = ".", seed: int | None = None,
                 n_orders: int | None = None) -> None:
        self.domain = domain
        self.config = config
        self.root = str(root)
        self.seed = seed
        self.n_orders = n_orders
        self.failure_responses = frozenset(config.failure_responses)
        package = actions_package(config, root)
        self.action_client: Any = None
        if package is not None:
            from bot.actions.in_process import InProcessActionClient

            self.action_client = InProcessActionClient(package)
        api = _backends_api() if config.outcomes in ("auto", "backends") else None
        if api is None and config.outcomes == "backends":
            logger.warning("simulator: outcomes: backends, but %s is not importable; the shoppers own the orders "
                           "listed in simulator.yml", BACKENDS_MODULE)
        self._api = api
        if api is not None:
            self.seed = api.SIMULATION_SEED if seed is None else seed
            self.n_orders = api.SIMULATION_ORDERS if n_orders is None else n_orders
        self._state = api.open(seed=self.seed, n_orders=self.n_orders) if api is not None else None
        self._bound: Any = None
        self._probe: Any = None
        self._probe_cache: dict[tuple[Any, ...], Outcome] = {}
        self._seeded_reads: dict[tuple[Any, ...], Any] = {}  # order lookups in the seeded state (same seed: same)

    # -- what shoppers own ----------------------------------------------------------------------
    def orders(self) -> list[OrderFacts]:
        """The orders shoppers can ask about."""
        if self._state is not None:
            return [OrderFacts(**o) for o in self._api.orders(self._state)]
        return [OrderFacts(str(o["order_id"]), str(o.get("email", "")), o.get("phone"), str(o.get("status", "unknown")))
                for o in self.config.orders]

    # -- serving the actions --------------------------------------------------------------------
    def _backends(self) -> Any:
        if self._bound is None:
            from simulator.local_backends import LocalOrders, LocalRecommender

            self._bound = (LocalOrders(self._state.service, self._seeded_reads), LocalRecommender(self._recommender()))
        return self._bound

    def _recommender(self) -> Any:
        folder = str(self._state.reco_model_dir)
        if folder not in _RECOMMENDERS:
            _RECOMMENDERS[folder] = self._api.recommender(self._state)
        return _RECOMMENDERS[folder]

    def serving(self) -> Any:
        """Context in which the actions call this shop's backends (nothing to bind without backends)."""
        if self._state is None:
            return nullcontext()
        from actions.clients import use_backends

        orders, recommender = self._backends()
        return use_backends(orders, recommender)

    def begin_dialogue(self) -> None:
        """Forget what the previous dialogue wrote to the backends."""
        if self._state is not None:
            self._api.begin_dialogue(self._state)
            if self._bound is not None:
                self._bound[0].new_dialogue()

    def fork(self) -> SimulatedShop:
        """Another shop with the same seed and its own database (one per env: dialogues run interleaved)."""
        twin = SimulatedShop(self.domain, self.config, self.root, self.seed, self.n_orders)
        twin._probe_cache = self._probe_cache
        twin._seeded_reads = self._seeded_reads
        return twin

    # -- achievability --------------------------------------------------------------------------
    def run(self, action: str, slots: Mapping[str, Any]) -> Outcome:
        """What the real ``action`` answers a fresh conversation holding these slot values (memoised)."""
        key = (action, *sorted((k, str(v)) for k, v in slots.items() if v is not None))
        hit = self._probe_cache.get(key)
        if hit is None:
            if self._probe is None:
                from simulator.engine import LiveEngine

                self._probe = LiveEngine(self.domain, self, sender_id="probe")
            hit = self._probe_cache[key] = self._probe.probe(action, slots)
        return hit

    def __getstate__(self) -> dict[str, Any]:  # SubprocVecEnv pickles worlds, not open databases
        return {"domain": self.domain, "config": self.config, "root": self.root, "seed": self.seed,
                "n_orders": self.n_orders, "cache": self._probe_cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["domain"], state["config"], state["root"], state["seed"], state["n_orders"])  # type: ignore[misc]
        self._probe_cache.update(state.get("cache") or {})

    def close(self) -> None:
        """Close the order database."""
        if self._state is not None:
            self._api.close(self._state)
            self._state = None
