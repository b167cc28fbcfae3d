"""User-simulator benchmark: env steps per second, and wall time to 90 % of achievable success.

Run from the repo root::

    .venv/bin/python benchmarks/sim_bench.py                 # both parts, demo shop
    .venv/bin/python benchmarks/sim_bench.py --part speed    # env throughput only (seconds)

1. **Env throughput** (semantic level, demo shop, NLU error 0.1): the time spent inside the env's
   ``reset``, ``step`` and ``action_masks`` while the rule policy drives realistic dialogues (the
   policy's own time is excluded), as steps per wall-clock second and per CPU-second of this process
   (the second is what one core delivers; the first also counts waiting for a busy shared machine).
2. **Time to 90 % of achievable**: MaskablePPO warm-started from the stories, trained at NLU error 0.1
   until the training-goal evaluation (every ``--eval-freq`` steps, ``--eval-episodes`` dialogues)
   reaches 90 % of the achievable-goal upper bound; wall time and env steps, plus the same policy on
   held-out goals.

Writes ``benchmarks/results/sim_bench.json`` and prints a summary (machine: ``os.cpu_count()`` and
load average are recorded, because the number depends on what else runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def env_throughput(world: object, seconds: float = 10.0, nlu_error: float = 0.1, seed: int = 0) -> dict:
    from simulator.env import CustomerServiceEnv
    from simulator.rule_policy import HappyPathPolicy

    env = CustomerServiceEnv(world=world, nlu_error=nlu_error)
    policy = HappyPathPolicy.from_world(world)
    rng = np.random.default_rng(seed)
    inside = inside_cpu = 0.0
    steps = episodes = 0
    t0, c0 = time.perf_counter(), time.process_time()
    env.reset(seed=seed)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        action = policy.act(env) if rng.random() > 0.1 else int(rng.choice(np.flatnonzero(env.action_masks())))
        t, c = time.perf_counter(), time.process_time()
        _, _, terminated, truncated, _ = env.step(action)
        env.action_masks()
        if terminated or truncated:
            env.reset()
            episodes += 1
        inside += time.perf_counter() - t
        inside_cpu += time.process_time() - c
        steps += 1
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps": steps, "episodes": episodes, "env_seconds": round(inside, 3), "wall_seconds": round(total, 3),
            "env_cpu_seconds": round(inside_cpu, 3),
            "env_steps_per_s": round(steps / inside, 1),
            "env_steps_per_cpu_s": round(steps / max(inside_cpu, 1e-9), 1),
            "steps_per_s_with_rule_policy": round(steps / total, 1),
            "steps_per_cpu_s_with_rule_policy": round(steps / max(total_cpu, 1e-9), 1),
            "avg_steps_per_episode": round(steps / max(1, episodes), 2), "nlu_error": nlu_error}


def time_to_target(world: object, fraction: float = 0.9, nlu_error: float = 0.1, max_steps: int = 200_000,
                   eval_freq: int = 5_000, eval_episodes: int = 300, seed: int = 0) -> dict:
    from simulator.evaluation import agent_from_result, evaluate
    from simulator.training import TrainConfig, train

    upper = world.goals.achievable_rate("train")
    target = fraction * upper
    config = TrainConfig(algo="maskable_ppo", timesteps=max_steps, nlu_error=nlu_error, seed=seed, n_envs=4,
                         warm_start="stories", eval_freq=eval_freq, eval_episodes=eval_episodes,
                         target_success=target)
    result = train(world, config)
    reached = result.steps_to(target)
    point = next((p for p in result.curve if p["success"] >= target), None)
    heldout = evaluate(agent_from_result(result, world), world, nlu_error, 1000, seed=seed, split="test")
    return {"target_success": round(target, 4), "achievable_train": round(upper, 4), "reached": reached is not None,
            "env_steps": reached, "wall_time_s": point["wall_time_s"] if point else round(result.wall_time_s, 1),
            "curve": result.curve, "heldout_success": heldout["success_rate"],
            "heldout_success_of_achievable": round(heldout["success_of_achievable"], 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "speed", "train"], default="all")
    parser.add_argument("--project", default=str(ROOT))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-steps", type=int, default=200_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sim_bench.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from simulator.world import load_world

    world = load_world(args.project)
    report: dict = {"machine": {"cpu_count": os.cpu_count(), "load_avg_start": os.getloadavg(),
                                "python": platform.python_version(), "platform": platform.platform()},
                    "project": args.project}
    if args.part in ("all", "speed"):
        report["env_throughput"] = env_throughput(world, args.seconds)
        e = report["env_throughput"]
        print(f"env: {e['env_steps_per_s']:.0f} steps/s wall, {e['env_steps_per_cpu_s']:.0f} steps per CPU-second "
              f"inside the env ({e['steps_per_s_with_rule_policy']:.0f} / {e['steps_per_cpu_s_with_rule_policy']:.0f} "
              f"with the rule policy driving)")
    if args.part in ("all", "train"):
        report["time_to_90_percent_of_achievable"] = t = time_to_target(world, max_steps=args.max_steps)
        status = f"{t['env_steps']} env steps, {t['wall_time_s']} s" if t["reached"] else "not reached"
        print(f"MaskablePPO (warm start) to 90 % of achievable ({t['target_success']:.3f}): {status}; "
              f"held-out success {t['heldout_success']:.3f} ({t['heldout_success_of_achievable']:.3f} of achievable)")
    report["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
