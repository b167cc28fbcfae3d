"""The reinforcement-learning stage of ``kefu train``: a KefuMLPolicy fine-tuned against simulated shoppers.

A ``KefuMLPolicy`` (or ``TEDPolicy``) entry of ``config.yml`` asks for it with ``rl:``::

    - name: KefuMLPolicy
      epochs: 100
      rl: {algo: maskable_ppo, timesteps: 40000, nlu_error: 0.1, warm_start: stories}

``kefu train`` then behaviour-clones the policy on the stories (as without ``rl``), fine-tunes it with the
simulator (:func:`simulator.training.train`: the live engine, the project's actions and backends in process,
``simulator.yml``'s shoppers), distils the result to act without the simulator's masks, and saves it in the
model's ``core/`` in place of the cloned weights, with ``rl/train_report.json`` and ``rl/train_curve.png``
beside it. The keys of ``rl:`` are :class:`~simulator.training.TrainConfig`'s, except the network's shape and
seed, which are the policy's own (``hidden_sizes``, ``max_history``, ``seed``).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

from simulator.training import TrainConfig, train
from simulator.world import world_of_project

RL_REPORT_DIR = "rl"
REPORT_FILES = ("train_report.json", "train_curve.png")
OWNED_BY_POLICY = ("hidden_sizes", "max_history", "seed")
RL_DEFAULTS = {"warm_start": "stories", "progress_bar": True}


class RLStageError(ValueError):
    """The ``rl:`` settings of a policy in config.yml are malformed (the message names the key)."""


def rl_train_config(policy: Any) -> TrainConfig:
    """The simulator run ``policy.rl`` asks for, with the policy's own network shape and seed."""
    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(OWNED_BY_POLICY)
    settings = {**RL_DEFAULTS, **policy.rl}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise RLStageError(f"config.yml: KefuMLPolicy rl has unknown key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
    if policy.activation_fn != "tanh" or policy.use_requested_slot is not None:
        raise RLStageError("config.yml: KefuMLPolicy rl needs the default activation_fn (tanh) and "
                           "use_requested_slot (the simulator's network has that shape)")
    try:
        return TrainConfig(**settings, hidden_sizes=list(policy.hidden_sizes), max_history=policy.max_history,
                           seed=policy.seed)
    except TypeError as exc:
        raise RLStageError(f"config.yml: KefuMLPolicy rl: {exc}") from exc


def reinforce(policy: Any, project: Any, report_dir: Path, root: str | Path = ".") -> dict[str, Any]:
    """Fine-tune the behaviour-cloned ``policy`` in the simulator and take the result's weights (in place).

    :param policy: a learned :class:`~policies.ml_policy.KefuMLPolicy` with ``rl`` set
    :param project: the project ``kefu train`` loaded
    :param report_dir: where the run's report and learning curve go
    :param root: the project directory (``simulator.yml``, ``endpoints.yml``, ``actions/``)
    :returns: the run's report
    """
    from policies.ml_policy import KefuMLPolicy

    config = rl_train_config(policy)
    world = world_of_project(project, root)
    with tempfile.TemporaryDirectory(prefix="kefu-rl-") as out:
        result = train(world, config, out, warm=policy)
        if result.policy_dir is None:
            raise RLStageError(f"config.yml: KefuMLPolicy rl algo '{config.algo}' does not train a network "
                               "KefuMLPolicy can serve (use maskable_ppo, ppo or a2c)")
        policy.copy_weights_from(KefuMLPolicy.load(result.policy_dir).network)
        report_dir.mkdir(parents=True, exist_ok=True)
        for name in REPORT_FILES:
            if (Path(out) / name).exists():
                shutil.copy2(Path(out) / name, report_dir / name)
    return result.report()
