"""Tabular Q-learning: the seed project's agent, generalised to any shop, as a baseline.

The state is discretised by keeping the last ``history`` turn vectors of the featurizer's
observation (one-hot and multi-hot blocks, so the bytes are an exact key). Actions are chosen
epsilon-greedily among the valid ones (the env's ``action_masks()``); the update is the classic
``Q[s, a] += alpha * (r + gamma * max_a' Q[s', a'] - Q[s, a])`` over valid ``a'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

SelfQ = TypeVar("SelfQ", bound="TabularQLearning")
Callback = Callable[["TabularQLearning", int], bool]


class TabularQLearning:
    """Epsilon-greedy tabular Q-learning over discretised observations.

    :param env: a ``CustomerServiceEnv`` (or anything with its API and ``action_masks()``)
    :param learning_rate: alpha
    :param gamma: discount factor
    :param exploration_initial_eps: epsilon at the start
    :param exploration_final_eps: epsilon after ``exploration_fraction`` of the timesteps
    :param exploration_fraction: share of training over which epsilon decays linearly
    :param history: how many of the observation's most recent turns form the state
    :param turn_size: length of one turn vector (``featurizer.turn_size``)
    :param seed: seeds the exploration and the env's resets
    """

    def __init__(self, env: Any, learning_rate: float = 0.2, gamma: float = 0.95,
                 exploration_initial_eps: float = 1.0, exploration_final_eps: float = 0.05,
                 exploration_fraction: float = 0.5, history: int = 2, turn_size: int | None = None,
                 seed: int | None = None) -> None:
        self.env = env
        self.learning_rate = float(learning_rate)
        self.gamma = float(gamma)
        self.exploration_initial_eps = float(exploration_initial_eps)
        self.exploration_final_eps = float(exploration_final_eps)
        self.exploration_fraction = float(exploration_fraction)
        self.history = int(history)
        self.turn_size = int(turn_size or getattr(getattr(env, "featurizer", None), "turn_size", 0))
        self.seed = seed
        self.n_actions = int(env.action_space.n) if env is not None else 0
        self.q: dict[bytes, np.ndarray] = {}
        self.num_timesteps = 0
        self.episode_successes: list[bool] = []
        self._rng = np.random.default_rng(seed)

    # -- state ----------------------------------------------------------------------------------
    def _key(self, obs: np.ndarray) -> bytes:
        obs = np.asarray(obs, dtype=np.float32).reshape(-1)
        if self.turn_size and self.history:
            obs = obs[-self.history * self.turn_size:]
        return (obs > 0.5).tobytes()

    def _row(self, key: bytes) -> np.ndarray:
        row = self.q.get(key)
        if row is None:
            row = np.zeros(self.n_actions, dtype=np.float64)
            self.q[key] = row
        return row

    def _greedy(self, row: np.ndarray | None, mask: np.ndarray) -> int:
        valid = np.flatnonzero(mask)
        if row is None:
            return int(valid[0])
        return int(valid[int(np.argmax(row[valid]))])

    # -- training ---------------------------------------------------------------------------------
    def learn(self: SelfQ, total_timesteps: int, callback: Callback | None = None, progress: Any = None) -> SelfQ:
        """Run ``total_timesteps`` env steps of Q-learning; ``callback(self, step)`` returning False stops."""
        env = self.env
        obs, _ = env.reset(seed=self.seed)
        decay_steps = max(1, int(self.exploration_fraction * total_timesteps))
        for step in range(total_timesteps):
            eps = self.exploration_initial_eps + (self.exploration_final_eps - self.exploration_initial_eps) * \
                min(1.0, step / decay_steps)
            key = self._key(obs)
            row = self._row(key)
            mask = env.action_masks()
            if self._rng.random() < eps:
                action = int(self._rng.choice(np.flatnonzero(mask)))
            else:
                action = self._greedy(row, mask)
            next_obs, reward, terminated, truncated, info = env.step(action)
            target = reward
            if not terminated:
                next_row = self.q.get(self._key(next_obs))
                if next_row is not None and not truncated:
                    target += self.gamma * float(np.max(next_row[env.action_masks()]))
            row[action] += self.learning_rate * (target - row[action])
            self.num_timesteps += 1
            if progress is not None:
                progress.update(1)
            if terminated or truncated:
                self.episode_successes.append(bool(info.get("is_success", False)))
                obs, _ = env.reset()
            else:
                obs = next_obs
            if callback is not None and not callback(self, step + 1):
                break
        return self

    # -- prediction -------------------------------------------------------------------------------
    def predict(self, observation: np.ndarray, action_masks: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[int, None]:
        """Greedy action among the valid ones (SB3's ``predict`` shape: ``(action, state)``)."""
        mask = np.ones(self.n_actions, dtype=bool) if action_masks is None else np.asarray(action_masks, dtype=bool)
        return self._greedy(self.q.get(self._key(observation)), mask), None

    # -- persistence ------------------------------------------------------------------------------
    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "gamma": self.gamma,
                "exploration_initial_eps": self.exploration_initial_eps,
                "exploration_final_eps": self.exploration_final_eps,
                "exploration_fraction": self.exploration_fraction, "history": self.history,
                "turn_size": self.turn_size, "seed": self.seed}

    def save(self, path: str | Path) -> None:
        """``params.json`` + ``q_table.npz`` in the directory ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        params = {"class": type(self).__name__, "n_actions": self.n_actions, **self._get_constructor_parameters()}
        (path / "params.json").write_text(json.dumps(params, indent=2), encoding="utf-8")
        keys = list(self.q)
        width = max((len(k) for k in keys), default=0)
        packed = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), width) if keys else \
            np.zeros((0, 0), np.uint8)
        values = np.stack([self.q[k] for k in keys]) if keys else np.zeros((0, self.n_actions))
        np.savez_compressed(path / "q_table.npz", keys=packed, values=values)

    @classmethod
    def load(cls: type[SelfQ], path: str | Path, env: Any = None) -> SelfQ:
        """A new agent from :meth:`save`'s directory (does not load in place)."""
        path = Path(path)
        params = json.loads((path / "params.json").read_text(encoding="utf-8"))
        params.pop("class", None)
        n_actions = params.pop("n_actions")
        agent = cls(env, **params)
        agent.n_actions = n_actions
        data = np.load(path / "q_table.npz")
        for raw, values in zip(data["keys"], data["values"], strict=True):
            agent.q[raw.tobytes()] = values.astype(np.float64)
        return agent
