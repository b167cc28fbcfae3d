"""The actor of a trained KefuMLPolicy as plain numpy: what serving runs, without importing PyTorch.

SB3's actor is ``features -> mlp_extractor.policy_net (Linear, activation)* -> action_net (Linear)``;
for a flat ``Box`` observation the features extractor only flattens. This module copies those matrices
out of the network's ``state_dict`` into ``actor.npz`` when the policy is saved, and evaluates them with
numpy when it is served, so ``kefu run`` pays neither ``import torch`` (2-3 s on a 2-core machine) nor
torch's per-call dispatch for a two-layer MLP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

ACTOR_FILE = "actor.npz"
POLICY_NET_PREFIX = "mlp_extractor.policy_net."
ACTION_NET_PREFIX = "action_net."
MASKED_LOGIT = -1e8  # what sb3-contrib's MaskableCategorical gives a masked action


def _tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


ACTIVATIONS = {"tanh": _tanh, "relu": _relu}


class NumpyActor:
    """Linear layers with an activation between them, evaluated in float32.

    :param layers: ``(weight, bias)`` per layer, ``weight`` shaped ``(out, in)`` as in ``torch.nn.Linear``
    :param activation: ``"tanh"`` or ``"relu"``, after every layer but the last
    """

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], activation: str) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not layers:
            raise ValueError("an actor needs at least its output layer")
        self.layers = [(np.ascontiguousarray(w.T, dtype=np.float32), np.asarray(b, dtype=np.float32))
                       for w, b in layers]
        self.activation = activation
        self._activate = ACTIVATIONS[activation]

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], activation: str) -> NumpyActor:
        """The actor's layers out of an SB3 actor-critic's ``state_dict`` (tensors or arrays)."""

        def array(value: Any) -> np.ndarray:
            return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)

        hidden: dict[int, dict[str, np.ndarray]] = {}
        pattern = re.compile(re.escape(POLICY_NET_PREFIX) + r"(\d+)\.(weight|bias)$")
        for key, value in state.items():
            found = pattern.match(key)
            if found:
                hidden.setdefault(int(found.group(1)), {})[found.group(2)] = array(value)
        layers = [(hidden[i]["weight"], hidden[i]["bias"]) for i in sorted(hidden)]
        layers.append((array(state[ACTION_NET_PREFIX + "weight"]), array(state[ACTION_NET_PREFIX + "bias"])))
        return cls(layers, activation)

    def logits(self, observations: np.ndarray) -> np.ndarray:
        """Action logits for a batch ``(n, observation_size)`` (or one observation)."""
        h = np.asarray(observations, dtype=np.float32)
        last = len(self.layers) - 1
        for index, (weight_t, bias) in enumerate(self.layers):
            h = h @ weight_t
            h += bias
            if index < last:
                h = self._activate(h)
        return h

    def probabilities(self, observation: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Softmax over the actions for one observation; masked actions (False) get probability 0."""
        logits = self.logits(np.asarray(observation, dtype=np.float32).reshape(1, -1))[0]
        if action_masks is not None:
            logits = np.where(np.asarray(action_masks, dtype=bool), logits, np.float32(MASKED_LOGIT))
        z = np.exp(logits - logits.max())
        return z / z.sum()

    def save(self, path: str | Path) -> None:
        """Write the layers to an ``.npz`` file."""
        arrays: dict[str, np.ndarray] = {"activation": np.array(self.activation)}
        for index, (weight_t, bias) in enumerate(self.layers):
            arrays[f"weight_{index}"] = weight_t.T
            arrays[f"bias_{index}"] = bias
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NumpyActor:
        """Read what :meth:`save` wrote."""
        with np.load(path, allow_pickle=False) as saved:
            count = sum(1 for name in saved.files if name.startswith("weight_"))
            layers = [(saved[f"weight_{i}"], saved[f"bias_{i}"]) for i in range(count)]
            return cls(layers, str(saved["activation"]))
