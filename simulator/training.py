"""Training dialogue policies against simulated shoppers: SB3 algorithms and the tabular baseline.

:func:`train` builds vector envs of ``CustomerServiceEnv``, an SB3 model (MaskablePPO, PPO, A2C,
DQN) whose actor-critic has exactly :class:`policies.ml_policy.KefuMLPolicy`'s shape (so its weights
go both ways: behaviour cloning on the stories warm-starts RL, and the RL result is saved as a
KefuMLPolicy that ``kefu run`` serves), an EvalCallback on success rate, checkpoints, a progress bar,
SB3's logs (``logs/progress.csv``, plus TensorBoard event files when ``tensorboard`` is installed: its
``eval/success_rate`` and ``rollout/success_rate``), and a learning curve (success rate against env
steps and wall time) for the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.constants import ALGOS
from simulator.env import CustomerServiceEnv
from simulator.world import SimulatorWorld

MASKED_ALGOS = ("maskable_ppo",)
ACTOR_CRITIC_ALGOS = ("maskable_ppo", "ppo", "a2c")
POLICY_DIR = "policy"  # the KefuMLPolicy directory inside a training run's output


@dataclass
class TrainConfig:
    """One training run.

    :param algo: ``maskable_ppo``, ``ppo``, ``dqn``, ``a2c`` or ``qlearning``
    :param timesteps: env steps
    :param nlu_error: NLU error rate of the training env
    :param seed: seeds the model, the envs and the evaluation
    :param n_envs: parallel envs
    :param warm_start: ``stories`` to behaviour-clone the stories first (actor-critic algorithms)
    :param eval_freq: env steps between evaluations (all envs together)
    :param eval_episodes: dialogues per evaluation
    :param subproc: one process per env (SubprocVecEnv) instead of DummyVecEnv
    :param hidden_sizes: the network (KefuMLPolicy's ``hidden_sizes``)
    :param max_history: the featurizer's history
    :param learning_rate: optimiser step size (SB3's name)
    :param n_steps: steps per env per PPO/A2C rollout
    :param batch_size: PPO minibatch
    :param n_epochs: PPO epochs per rollout
    :param gamma: discount
    :param ent_coef: entropy bonus
    :param target_success: stop early when the evaluation reaches this success rate (None: never)
    :param distill_episodes: simulated dialogues for the unmasked export (``policy/``; 0: none)
    :param progress_bar: show SB3's progress bar
    :param verbose: SB3 verbosity
    """

    algo: str = "maskable_ppo"
    timesteps: int = 150_000
    nlu_error: float = 0.1
    seed: int = 0
    n_envs: int = 4
    warm_start: str | None = None
    eval_freq: int = 10_000
    eval_episodes: int = 200
    subproc: bool = False
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 128])
    max_history: int = 5
    learning_rate: float = 3e-4
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 5
    gamma: float = 0.99
    ent_coef: float = 0.01
    target_success: float | None = None
    distill_episodes: int = 2000
    progress_bar: bool = False
    verbose: int = 0


@dataclass
class TrainResult:
    """What a run produced: the agent, its learning curve and where it was saved."""

    config: TrainConfig
    agent: Any
    curve: list[dict[str, float]]
    wall_time_s: float
    out_dir: str | None = None
    policy_dir: str | None = None
    model_path: str | None = None
    serving: dict[str, Any] = field(default_factory=dict)

    def steps_to(self, success: float) -> int | None:
        """Env steps at the first evaluation that reached ``success`` (None: never)."""
        for point in self.curve:
            if point["success"] >= success:
                return int(point["timesteps"])
        return None

    def report(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "wall_time_s": round(self.wall_time_s, 2),
            "curve": self.curve,
            "final_success": self.curve[-1]["success"] if self.curve else None,
            "best_success": max((p["success"] for p in self.curve), default=None),
            "steps_to_80": self.steps_to(0.8),
            "policy_dir": self.policy_dir,
            "model_path": self.model_path,
            "serving_export": self.serving,
        }


def make_env_fn(world: SimulatorWorld, nlu_error: float, goal_split: str, seed: int, monitor: bool = True,
                featurizer: Any = None) -> Callable[[], Any]:
    """A factory for SB3's vector envs (seeded, Monitor-wrapped so ep_rew/ep_len are logged)."""

    def make() -> Any:
        env: Any = CustomerServiceEnv(world=world, nlu_error=nlu_error, goal_split=goal_split, featurizer=featurizer)
        env.reset(seed=seed)
        if monitor:
            from stable_baselines3.common.monitor import Monitor

            env = Monitor(env, info_keywords=("is_success",))
        return env

    return make


def _vec_env(world: SimulatorWorld, config: TrainConfig, goal_split: str, n_envs: int, seed: int) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    fns = [make_env_fn(world, config.nlu_error, goal_split, seed + i) for i in range(n_envs)]
    if config.subproc and n_envs > 1:
        import multiprocessing

        # fork: the workers inherit the loaded world (no re-import of a __main__ without a guard)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        vec = SubprocVecEnv(fns, start_method=method)
    else:
        vec = DummyVecEnv(fns)
    vec.seed(seed)
    return vec


def ml_policy_for(world: SimulatorWorld, config: TrainConfig) -> Any:
    """A :class:`KefuMLPolicy` with this run's network shape, set up for the world's domain."""
    from policies.ml_policy import KefuMLPolicy

    return KefuMLPolicy(max_history=config.max_history, hidden_sizes=config.hidden_sizes, seed=config.seed,
                        epochs=60).setup(world.domain)


NEVER_VALID_LOGIT = -1e4


def export_policy(model: Any, world: SimulatorWorld, config: TrainConfig, distill_episodes: int = 0) -> Any:
    """The trained actor as a :class:`KefuMLPolicy`.

    Under MaskablePPO an action the mask forbids is never sampled, so its logit never gets a
    gradient: the raw network may rank it first where the simulator always forbade it (no order
    lookup without an order id). The live engine does not have the simulator's masks, so:

    - actions the simulator never allows (the env's static mask: ``validate_*``, ``action_restart``,
      …) get the bias ``NEVER_VALID_LOGIT``; every other logit is unchanged, so masked predictions
      are exactly the trained model's;
    - with ``distill_episodes`` > 0 the actor is then fine-tuned, without masks, to reproduce its own
      masked choices on the states of that many simulated dialogues (see :func:`distill_unmasked`),
      so that ``kefu run`` makes the same choices without them.
    """
    import torch as th

    policy = ml_policy_for(world, config)
    policy.copy_weights_from(model)
    static = CustomerServiceEnv(world=world, featurizer=policy.featurizer).static_action_mask
    with th.no_grad():
        bias = policy.network.action_net.bias
        bias[th.as_tensor(~static)] = NEVER_VALID_LOGIT
    if distill_episodes > 0:
        distill_unmasked(policy, world, config, distill_episodes)
    return policy


def distill_unmasked(policy: Any, world: SimulatorWorld, config: TrainConfig, episodes: int = 2000,
                     epochs: int = 60, explore: float = 0.2) -> dict[str, float]:
    """Teach the actor to choose, without masks, what it chooses with them (a DAgger-style self-distillation).

    Dialogues are played by the masked policy (with ``explore`` random valid actions, so recovery
    states are visited too); each state is labelled with the masked argmax, and the actor is trained
    by cross-entropy on the unmasked logits. Returns the share of states where the unmasked argmax
    agrees with the label, before and after.
    """
    env = CustomerServiceEnv(world=world, nlu_error=config.nlu_error, goal_split="train", featurizer=policy.featurizer)
    rng = np.random.default_rng(config.seed + 777)
    observations: list[np.ndarray] = []
    labels: list[int] = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=config.seed * 100_003 + episode)
        while True:
            mask = env.action_masks()
            label = int(np.argmax(policy.predict_observation(obs, mask)))
            observations.append(obs)
            labels.append(label)
            action = int(rng.choice(np.flatnonzero(mask))) if rng.random() < explore else label
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    policy.distillation = policy.imitate(np.stack(observations), np.asarray(labels, dtype=np.int64), epochs)
    return policy.distillation


def behaviour_clone(world: SimulatorWorld, config: TrainConfig) -> Any:
    """KefuMLPolicy trained on the stories and rules (the warm start)."""
    from policies.story_graph import generate_trackers

    policy = ml_policy_for(world, config)
    trackers = generate_trackers(world.stories, world.domain, seed=config.seed)
    return policy.learn(trackers, world.domain)


class _CurveRecorder:
    """Called after each EvalCallback evaluation: appends (timesteps, success, reward, wall time)."""

    def __init__(self, start: float, target: float | None) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        recorder = self

        class AfterEval(BaseCallback):
            def _on_step(self) -> bool:
                parent = self.parent
                success = float(np.mean(parent._is_success_buffer)) if parent._is_success_buffer else 0.0
                recorder.curve.append({"timesteps": int(parent.num_timesteps), "success": success,
                                       "mean_reward": float(parent.last_mean_reward),
                                       "wall_time_s": round(time.perf_counter() - recorder.start, 2)})
                return recorder.target is None or success < recorder.target

        self.start = start
        self.target = target
        self.curve: list[dict[str, float]] = []
        self.callback = AfterEval()


def train(world: SimulatorWorld, config: TrainConfig, out_dir: str | Path | None = None,
          warm: Any = None) -> TrainResult:
    """Train one policy (see the module docstring); saves under ``out_dir`` when given.

    :param warm: a behaviour-cloned :class:`KefuMLPolicy` to start from (instead of cloning the stories again
        for ``warm_start: stories``)
    """
    if config.algo not in ALGOS:
        raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {config.algo!r}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if config.algo == "qlearning":
        return _train_qlearning(world, config, out)
    import torch as th

    th.set_num_threads(1)
    start = time.perf_counter()
    env = _vec_env(world, config, "train", config.n_envs, config.seed)
    eval_env = _vec_env(world, config, "train", 1, config.seed + 10_000)
    model = _make_model(world, config, env, out)
    if out is not None:
        from stable_baselines3.common.logger import configure

        formats = ["csv"] + (["tensorboard"] if _has_tensorboard() else [])
        model.set_logger(configure(str(out / "logs"), formats))
    if config.warm_start == "stories" and config.algo in ACTOR_CRITIC_ALGOS:
        warm = warm if warm is not None else behaviour_clone(world, config)
        warm.copy_weights_to(model)
    elif config.warm_start not in (None, "none", "stories"):
        raise ValueError(f"--warm-start must be 'stories' (or omitted), got {config.warm_start!r}")
    recorder = _CurveRecorder(start, config.target_success)
    recorder.curve.append(_initial_point(world, config, model, start))
    callbacks = [_eval_callback(config, eval_env, out, recorder)]
    if out is not None:
        from stable_baselines3.common.callbacks import CheckpointCallback

        callbacks.append(CheckpointCallback(save_freq=max(1, 50_000 // config.n_envs),
                                            save_path=str(out / "checkpoints"), name_prefix=config.algo))
    from stable_baselines3.common.callbacks import CallbackList

    model.learn(total_timesteps=config.timesteps, callback=CallbackList(callbacks),
                progress_bar=config.progress_bar)
    wall = time.perf_counter() - start
    result = TrainResult(config, model, recorder.curve, wall)
    if out is not None:
        result.out_dir = str(out)
        model.save(out / "model.zip")
        result.model_path = str(out / "model.zip")
        if config.algo in ACTOR_CRITIC_ALGOS:
            served = export_policy(model, world, config, distill_episodes=config.distill_episodes)
            served.save(out / POLICY_DIR)
            result.policy_dir = str(out / POLICY_DIR)
            result.serving = dict(getattr(served, "distillation", {}))
        write_train_report(result, out)
    env.close()
    eval_env.close()
    return result


def _make_model(world: SimulatorWorld, config: TrainConfig, env: Any, out: Path | None) -> Any:
    import torch as th

    common = {"seed": config.seed, "verbose": config.verbose, "gamma": config.gamma,
              "learning_rate": config.learning_rate, "device": "cpu"}
    if config.algo in ACTOR_CRITIC_ALGOS:
        kwargs = ml_policy_for(world, config).make_sb3_policy_kwargs()
        if config.algo == "maskable_ppo":
            from sb3_contrib import MaskablePPO
            from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

            return MaskablePPO(MaskableActorCriticPolicy, env, policy_kwargs=kwargs, n_steps=config.n_steps,
                               batch_size=config.batch_size, n_epochs=config.n_epochs, ent_coef=config.ent_coef,
                               **common)
        if config.algo == "ppo":
            from stable_baselines3 import PPO

            return PPO("MlpPolicy", env, policy_kwargs=kwargs, n_steps=config.n_steps, batch_size=config.batch_size,
                       n_epochs=config.n_epochs, ent_coef=config.ent_coef, **common)
        from stable_baselines3 import A2C

        return A2C("MlpPolicy", env, policy_kwargs=kwargs, n_steps=max(5, config.n_steps // 32),
                   ent_coef=config.ent_coef, **common)
    from stable_baselines3 import DQN

    return DQN("MlpPolicy", env, policy_kwargs={"net_arch": list(config.hidden_sizes), "activation_fn": th.nn.Tanh},
               buffer_size=50_000, learning_starts=1_000, batch_size=64, train_freq=4, target_update_interval=500,
               exploration_fraction=0.3, exploration_final_eps=0.05, **common)


def _initial_point(world: SimulatorWorld, config: TrainConfig, model: Any, start: float) -> dict[str, float]:
    """The learning curve's first point: the (possibly warm-started) policy before any RL step."""
    from simulator.evaluation import SB3Agent, evaluate

    agent = SB3Agent(model, config.algo, masked=config.algo in MASKED_ALGOS)
    metrics = evaluate(agent, world, config.nlu_error, config.eval_episodes, seed=config.seed + 10_000, split="train")
    return {"timesteps": 0, "success": metrics["success_rate"], "mean_reward": metrics["mean_return"],
            "wall_time_s": round(time.perf_counter() - start, 2)}


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def _eval_callback(config: TrainConfig, eval_env: Any, out: Path | None, recorder: _CurveRecorder) -> Any:
    freq = max(1, config.eval_freq // config.n_envs)
    kwargs = {"n_eval_episodes": config.eval_episodes, "eval_freq": freq, "deterministic": True,
              "callback_after_eval": recorder.callback, "verbose": 0, "warn": False,
              "best_model_save_path": str(out / "best") if out is not None else None,
              "log_path": str(out / "eval") if out is not None else None}
    if config.algo in MASKED_ALGOS:
        from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback

        return MaskableEvalCallback(eval_env, **kwargs)
    from stable_baselines3.common.callbacks import EvalCallback

    return EvalCallback(eval_env, **kwargs)


def _train_qlearning(world: SimulatorWorld, config: TrainConfig, out: Path | None) -> TrainResult:
    from simulator.evaluation import QAgentAdapter, evaluate
    from simulator.qlearning import TabularQLearning

    start = time.perf_counter()
    env = CustomerServiceEnv(world=world, nlu_error=config.nlu_error, goal_split="train")
    agent = TabularQLearning(env, seed=config.seed, turn_size=env.featurizer.turn_size)
    curve: list[dict[str, float]] = []

    def on_step(model: TabularQLearning, step: int) -> bool:
        if step % config.eval_freq == 0 or step == config.timesteps:
            metrics = evaluate(QAgentAdapter(model), world, config.nlu_error, config.eval_episodes,
                               seed=config.seed + 10_000, split="train")
            curve.append({"timesteps": step, "success": metrics["success_rate"],
                          "mean_reward": metrics["mean_return"],
                          "wall_time_s": round(time.perf_counter() - start, 2)})
            if config.target_success is not None and metrics["success_rate"] >= config.target_success:
                return False
        return True

    progress = None
    if config.progress_bar:
        from tqdm.auto import tqdm

        progress = tqdm(total=config.timesteps, desc="qlearning", unit="step")
    agent.learn(config.timesteps, callback=on_step, progress=progress)
    if progress is not None:
        progress.close()
    result = TrainResult(config, agent, curve, time.perf_counter() - start)
    if out is not None:
        agent.save(out / "qtable")
        result.out_dir = str(out)
        result.model_path = str(out / "qtable")
        write_train_report(result, out)
    return result


def write_train_report(result: TrainResult, out: Path) -> None:
    """``train_report.json`` and ``train_curve.png`` (success rate against env steps)."""
    (out / "train_report.json").write_text(json.dumps(result.report(), indent=2), encoding="utf-8")
    if not result.curve:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["timesteps"] for p in result.curve]
    ax.plot(xs, [p["success"] for p in result.curve], marker="o", label=result.config.algo)
    ax.axhline(0.8, color="grey", linestyle=":", label="80 %")
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate (evaluation)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.config.algo}, NLU error {result.config.nlu_error:g}, seed {result.config.seed}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "train_curve.png", dpi=110)
    plt.close(fig)
