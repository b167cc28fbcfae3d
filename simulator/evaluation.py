"""Evaluating and comparing dialogue policies in the simulator, for support leads.

:func:`evaluate` runs N dialogues on held-out goals with fixed seeds and reports the success rate
with its 95 % (Wilson) interval, the achievable-goal upper bound and success relative to it, the
average number of shopper turns and bot actions, the return, the handoff rate and the shopper's
final mood. :func:`compare` trains the learnable policies for each seed, evaluates every policy at
every NLU error rate and writes a table, ``compare.json`` and ``compare.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from simulator.constants import NOISE_LEVELS
from simulator.env import CustomerServiceEnv
from simulator.rule_policy import HappyPathPolicy
from simulator.world import SimulatorWorld

EVAL_SEED_STRIDE = 1_000_003


class Agent(Protocol):
    """Anything that picks the bot's next action in a :class:`CustomerServiceEnv`."""

    name: str

    def act(self, env: CustomerServiceEnv, obs: np.ndarray) -> int:
        """The action index for the env's current state."""


class RuleAgent:
    """The stories' happy paths (:class:`HappyPathPolicy`)."""

    name = "rule"

    def __init__(self, world: SimulatorWorld) -> None:
        self.policy = HappyPathPolicy.from_world(world)

    def act(self, env: CustomerServiceEnv, obs: np.ndarray) -> int:
        return self.policy.act(env)


class SB3Agent:
    """An SB3 model, deterministic; ``masked`` passes the env's action masks (MaskablePPO)."""

    def __init__(self, model: Any, name: str, masked: bool = True) -> None:
        self.model = model
        self.name = name
        self.masked = masked

    def act(self, env: CustomerServiceEnv, obs: np.ndarray) -> int:
        if self.masked:
            action, _ = self.model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        return int(action)


class MLPolicyAgent:
    """A :class:`policies.ml_policy.KefuMLPolicy` (what ``kefu run`` serves): argmax over valid actions."""

    def __init__(self, policy: Any, name: str = "maskable_ppo", masked: bool = True) -> None:
        self.policy = policy
        self.name = name
        self.masked = masked

    def act(self, env: CustomerServiceEnv, obs: np.ndarray) -> int:
        probs = self.policy.predict_observation(obs, env.action_masks() if self.masked else None)
        return int(np.argmax(probs))


class QAgentAdapter:
    """A :class:`~simulator.qlearning.TabularQLearning` table: greedy among the valid actions."""

    def __init__(self, model: Any, name: str = "qlearning") -> None:
        self.model = model
        self.name = name

    def act(self, env: CustomerServiceEnv, obs: np.ndarray) -> int:
        return int(self.model.predict(obs, action_masks=env.action_masks())[0])


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_dialogues(agent: Agent, env: CustomerServiceEnv, episodes: int, seed: int,
                  progress: Callable[[int], None] | None = None,
                  on_episode: Callable[[CustomerServiceEnv, dict[str, Any], float], None] | None = None,
                  ) -> list[dict[str, Any]]:
    """Play ``episodes`` dialogues (goal ``i`` of the split in a seed-dependent order, fixed seeds)."""
    infos: list[dict[str, Any]] = []
    order = np.random.default_rng(seed).permutation(len(env.goals))
    for i in range(episodes):
        obs, _ = env.reset(seed=seed * EVAL_SEED_STRIDE + i, options={"goal_index": int(order[i % len(order)])})
        total = 0.0
        while True:
            obs, reward, terminated, truncated, info = env.step(agent.act(env, obs))
            total += reward
            if terminated or truncated:
                break
        info = dict(info, episode_return=total)
        infos.append(info)
        if on_episode is not None:
            on_episode(env, info, total)
        if progress is not None:
            progress(1)
    return infos


def summarize(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation metrics of a batch of finished dialogues."""
    n = len(infos)
    successes = sum(bool(i["is_success"]) for i in infos)
    achievable = sum(bool(i["achievable"]) for i in infos)
    low, high = wilson_interval(successes, n)
    outcomes: dict[str, int] = {}
    per_task: dict[str, list[int]] = {}
    for info in infos:
        outcomes[info["outcome"]] = outcomes.get(info["outcome"], 0) + 1
        per_task.setdefault(info["task"], []).append(int(info["is_success"]))
    rate = successes / n if n else 0.0
    upper = achievable / n if n else 0.0
    return {
        "episodes": n,
        "success_rate": rate,
        "success_ci95": [low, high],
        "achievable_rate": upper,
        "success_of_achievable": rate / upper if upper else 0.0,
        "avg_user_turns": float(np.mean([i["user_turns"] for i in infos])) if n else 0.0,
        "avg_bot_actions": float(np.mean([i["bot_actions"] for i in infos])) if n else 0.0,
        "mean_return": float(np.mean([i["episode_return"] for i in infos])) if n else 0.0,
        "handoff_rate": float(np.mean([i["handoff"] for i in infos])) if n else 0.0,
        "final_mood": float(np.mean([i["mood"] for i in infos])) if n else 0.0,
        "outcomes": outcomes,
        "per_task_success": {k: float(np.mean(v)) for k, v in sorted(per_task.items())},
    }


def evaluate(agent: Agent, world: SimulatorWorld, nlu_error: float = 0.1, episodes: int = 1000, seed: int = 0,
             split: str = "test", level: str = "semantic", nlu_model: str | None = None,
             progress: Callable[[int], None] | None = None, featurizer: Any = None,
             engine: Any = None, payloads: bool = False) -> dict[str, Any]:
    """Evaluate ``agent`` on ``episodes`` dialogues of the ``split`` goals (see the module docstring).

    :param engine: what the shoppers talk to (None: the live engine in process; a
        :class:`~simulator.remote.RemoteEngine` for a running server, with a :class:`~simulator.remote.RemoteAgent`)
    :param payloads: the shoppers' messages as REST payloads (:class:`~simulator.remote.PayloadChannel`), as they
        reach a server driven over REST; always so with a remote engine
    """
    env = CustomerServiceEnv(world=world, nlu_error=nlu_error, goal_split=split, level=level, nlu_model=nlu_model,
                             featurizer=featurizer, masks=getattr(agent, "masks", "simulator"), engine=engine)
    if payloads or engine is not None:
        from simulator.remote import PayloadChannel

        env.channel = PayloadChannel(env.channel)
    start = time.perf_counter()
    infos = run_dialogues(agent, env, episodes, seed, progress)
    metrics = summarize(infos)
    metrics.update({"policy": agent.name, "nlu_error": nlu_error, "seed": seed, "split": split, "level": level,
                    "wall_time_s": round(time.perf_counter() - start, 2)})
    return metrics


# ------------------------------------------------------------------------------------------------
# compare

def load_agent(kind: str, world: SimulatorWorld, path: str | None = None) -> Agent:
    """An agent by name: ``rule``; or a trained one from a ``kefu sim train`` output directory; or, for a
    ``kefu train`` model (folder with ``metadata.json`` or ``.tar.gz``), that model as served."""
    if path is not None and ((Path(path) / "metadata.json").exists() or str(path).endswith(".tar.gz")):
        from simulator.served import ServedAgent

        return ServedAgent.from_model(path)  # a `kefu train` model: played as served, whatever --policy says
    if kind == "rule":
        return RuleAgent(world)
    if path is None:
        raise ValueError(f"policy {kind!r} needs a trained model directory (kefu sim train --out DIR)")
    out = Path(path)
    if (out / "qtable").exists() or kind == "qlearning":
        from simulator.qlearning import TabularQLearning

        return QAgentAdapter(TabularQLearning.load(out / "qtable" if (out / "qtable").exists() else out), kind)
    from simulator.training import POLICY_DIR

    if (out / POLICY_DIR).exists() or (out / "params.json").exists():
        from policies.ml_policy import KefuMLPolicy

        policy = KefuMLPolicy.load(out / POLICY_DIR if (out / POLICY_DIR).exists() else out)
        return MLPolicyAgent(policy, kind, masked=kind != "ppo")
    model_file = out / "model.zip" if out.is_dir() else out
    if kind == "dqn":
        from stable_baselines3 import DQN

        return SB3Agent(DQN.load(model_file, device="cpu"), kind, masked=False)
    raise ValueError(f"{out}: no trained policy found (expected {POLICY_DIR}/, qtable/ or model.zip)")


def agent_from_result(result: Any, world: SimulatorWorld) -> Agent:
    """The evaluation agent of a fresh :class:`~simulator.training.TrainResult`."""
    from simulator.training import ACTOR_CRITIC_ALGOS, export_policy

    algo = result.config.algo
    if algo == "qlearning":
        return QAgentAdapter(result.agent)
    if algo in ACTOR_CRITIC_ALGOS:
        # the trained network itself (masked predictions; the served export only adds what masks hide)
        return MLPolicyAgent(export_policy(result.agent, world, result.config), algo, masked=algo == "maskable_ppo")
    return SB3Agent(result.agent, algo, masked=False)


def compare(world: SimulatorWorld, policies: Sequence[str], noise_levels: Sequence[float] = NOISE_LEVELS,
            seeds: Sequence[int] = (0, 1, 2, 3, 4), episodes: int = 1000, train_config: Any = None,
            out_dir: str | Path | None = None, timesteps: dict[str, int] | None = None,
            progress: Callable[[str], None] | None = None, served: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (per seed) and evaluate every policy at every noise level; write the report under ``out_dir``.

    :param served: name -> :class:`~simulator.served.ServedAgent`: assistants as served (a trained model, the
        Rasa-style ensemble), evaluated as they are (not trained per seed); their names go in ``policies``
    """
    from simulator.training import TrainConfig, train

    base = train_config or TrainConfig()
    out = Path(out_dir) if out_dir is not None else None
    runs: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []
    for seed in seeds:
        for name in policies:
            if served and name in served:
                agent: Agent = served[name]
            elif name == "rule":
                agent = RuleAgent(world)
            else:
                config = replace(base, algo=name, seed=seed,
                                 timesteps=(timesteps or {}).get(name, base.timesteps))
                run_dir = out / "runs" / f"{name}-seed{seed}" if out is not None else None
                if progress:
                    progress(f"training {name} seed {seed} ({config.timesteps} steps)")
                result = train(world, config, run_dir)
                training.append({"policy": name, "seed": seed, "wall_time_s": round(result.wall_time_s, 1),
                                 "steps_to_80": result.steps_to(0.8), "curve": result.curve,
                                 "timesteps": config.timesteps})
                agent = agent_from_result(result, world)
            for p in noise_levels:
                if progress:
                    progress(f"evaluating {name} seed {seed} at NLU error {p:g}")
                metrics = evaluate(agent, world, p, episodes, seed=seed, split="test")
                metrics["policy"] = name
                runs.append(metrics)
        if out is not None:  # after each seed, so a long comparison leaves its results so far
            _write_compare(out, policies, noise_levels, seeds, episodes, base, runs, training, partial=True)
    report = _write_compare(out, policies, noise_levels, seeds, episodes, base, runs, training)
    return report


def _write_compare(out: Path | None, policies: Sequence[str], noise_levels: Sequence[float], seeds: Sequence[int],
                   episodes: int, base: Any, runs: list[dict[str, Any]], training: list[dict[str, Any]],
                   partial: bool = False) -> dict[str, Any]:
    done = sorted({r["seed"] for r in runs})
    report = {"policies": list(policies), "noise_levels": list(noise_levels),
              "seeds": list(seeds) if not partial else done, "seeds_planned": list(seeds), "partial": partial,
              "episodes": episodes, "train_config": vars(base) if base is not None else None,
              "runs": runs, "training": training, "summary": summarize_compare(runs, training)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        plot_compare(report, out / "compare.png")
    return report


def summarize_compare(runs: Sequence[dict[str, Any]], training: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """policy -> noise -> mean/std over seeds of the headline metrics; plus training summaries."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for run in runs:
        table.setdefault(run["policy"], {}).setdefault(f"{run['nlu_error']:g}", []).append(run)  # type: ignore[arg-type]
    summary: dict[str, Any] = {}
    for policy, by_noise in table.items():
        summary[policy] = {}
        for noise, items in by_noise.items():  # type: ignore[assignment]
            succ = np.array([r["success_rate"] for r in items])
            n = sum(r["episodes"] for r in items)
            k = int(round(sum(r["success_rate"] * r["episodes"] for r in items)))
            summary[policy][noise] = {
                "success_mean": float(succ.mean()), "success_std": float(succ.std()),
                "success_ci95_pooled": list(wilson_interval(k, n)),
                "achievable": float(np.mean([r["achievable_rate"] for r in items])),
                "success_of_achievable": float(np.mean([r["success_of_achievable"] for r in items])),
                "avg_user_turns": float(np.mean([r["avg_user_turns"] for r in items])),
                "avg_bot_actions": float(np.mean([r["avg_bot_actions"] for r in items])),
                "mean_return": float(np.mean([r["mean_return"] for r in items])),
                "handoff_rate": float(np.mean([r["handoff_rate"] for r in items])),
                "final_mood": float(np.mean([r["final_mood"] for r in items])),
                "seeds": len(items),
            }
    train_summary: dict[str, Any] = {}
    for item in training:
        entry = train_summary.setdefault(item["policy"], {"wall_time_s": [], "steps_to_80": []})
        entry["wall_time_s"].append(item["wall_time_s"])
        entry["steps_to_80"].append(item["steps_to_80"])
    summary["_training"] = train_summary
    return summary


def plot_compare(report: dict[str, Any], path: Path) -> None:
    """Success rate against NLU error (mean ± std over seeds), plus the learning curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report["summary"]
    colors = {p: f"C{i}" for i, p in enumerate(report["policies"])}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    upper = None
    for policy in report["policies"]:
        rows = summary.get(policy, {})
        xs = [float(k) for k in rows]
        ys = np.array([rows[k]["success_mean"] for k in rows])
        sd = np.array([rows[k]["success_std"] for k in rows])
        ax.plot(xs, ys, marker="o", label=policy, color=colors[policy])
        ax.fill_between(xs, ys - sd, ys + sd, alpha=0.2, color=colors[policy])
        upper = [rows[k]["achievable"] for k in rows]
    if upper:
        ax.plot([float(k) for k in summary[report["policies"][0]]], upper, "k--", label="achievable (upper bound)")
    ax.set_xlabel("NLU error rate")
    ax.set_ylabel("success rate (held-out goals)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{len(report['seeds'])} seeds x {report['episodes']} dialogues")
    ax.legend()
    ax = axes[1]
    by_policy: dict[str, dict[int, list[float]]] = {}
    for item in report["training"]:
        for point in item["curve"]:
            by_policy.setdefault(item["policy"], {}).setdefault(int(point["timesteps"]), []).append(point["success"])
    for policy, points in by_policy.items():
        xs = sorted(points)
        mean = np.array([np.mean(points[x]) for x in xs])
        color = colors.get(policy)
        ax.plot(xs, mean, marker=".", color=color,
                label=f"{policy} (mean of {max(len(v) for v in points.values())} seeds; band: min-max)")
        ax.fill_between(xs, [min(points[x]) for x in xs], [max(points[x]) for x in xs], alpha=0.2, color=color)
    ax.axhline(0.8, color="grey", linestyle=":")
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate (training evaluation)")
    ax.set_ylim(0, 1)
    ax.set_title("learning curves")
    if report["training"]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
