"""KefuMLPolicy: one network for imitation (stories), reinforcement learning (SB3) and live traffic.

The network *is* an sb3-contrib ``MaskableActorCriticPolicy`` over the featurizer's observation
(``Box(0, 1, (observation_size,))``) and ``Discrete(len(action_names))``: an MLP actor
(``net_arch["pi"]``) → ``action_net`` logits, plus a value head RL uses. :meth:`KefuMLPolicy.learn`
trains the actor by behaviour cloning (cross-entropy on the stories' next actions); the simulator builds
``MaskablePPO(KefuMLPolicy.sb3_policy_class, env, policy_kwargs=policy.make_sb3_policy_kwargs())``,
calls :meth:`copy_weights_to` and fine-tunes; :meth:`copy_weights_from` brings the result back.
Action ``i`` is ``policy.action_names[i]`` (= ``domain.action_names[i]`` at training time).

Rasa's ``TEDPolicy`` maps to this class (its ``max_history`` and ``epochs`` are honoured).

Serving does not import PyTorch: :meth:`save` also writes the actor as numpy arrays
(:mod:`policies.numpy_actor`), :meth:`load` predicts with those and builds the torch network only when
something asks for :attr:`KefuMLPolicy.network` (training, RL, export).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from bot.domain import Domain
from bot.events import EventDict
from policies.constants import (
    DEFAULT_MAX_HISTORY,
    DEFAULT_POLICY_PRIORITY,
    RULE_SNIPPET_ACTION_NAME,
    WEIGHTS_FILE,
)
from policies.featurizer import TrackerFeaturizer
from policies.numpy_actor import ACTOR_FILE, NumpyActor
from policies.policy import Policy, PolicyError, Prediction, TrackerLike, tracker_events
from policies.state import State, prev_action_name, states_and_actions
from policies.story_graph import TrainingTracker

if TYPE_CHECKING:
    import torch as th
    from torch import nn

logger = logging.getLogger(__name__)

SelfML = TypeVar("SelfML", bound="KefuMLPolicy")
FEATURIZER_FILE = "featurizer.json"
ACTIVATION_NAMES = ("tanh", "relu")


def _activation_class(name: str) -> type[nn.Module]:
    from torch import nn

    return {"tanh": nn.Tanh, "relu": nn.ReLU}[name]


def _sb3_policy_class() -> type:
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    return MaskableActorCriticPolicy


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` intra-op threads: tiny MLPs are fastest (and stable under load) on one."""
    import torch as th

    previous = th.get_num_threads()
    if count > 0 and count != previous:
        th.set_num_threads(count)
    try:
        yield
    finally:
        if th.get_num_threads() != previous:
            th.set_num_threads(previous)


def _constant_schedule(value: float) -> Any:
    def schedule(_progress_remaining: float) -> float:
        return value

    return schedule


class KefuMLPolicy(Policy):
    """A supervised (behaviour-cloned) MLP policy whose network is an SB3 maskable actor-critic.

    :param max_history: how many turns the featurizer stacks
    :param hidden_sizes: widths of the actor's (and critic's) hidden layers
    :param activation_fn: ``"tanh"`` (SB3's PPO default) or ``"relu"``
    :param epochs: passes over the training examples
    :param batch_size: examples per gradient step
    :param learning_rate: Adam's learning rate for behaviour cloning
    :param weight_decay: Adam's L2 penalty
    :param seed: seeds the weights and the batch order (same seed + data = same policy)
    :param train_on_rules: also imitate rules (the turns after their ``...`` snippet)
    :param use_requested_slot: featurise the form's requested slot (None: per the domain)
    :param priority: Rasa 3.x's TED priority (1)
    :param num_threads: torch threads while training/predicting (0: leave torch's setting alone)
    :param verbose: 1 logs the loss every 10 epochs
    :param pretrained: a directory written by :meth:`save` (``kefu sim train --out models/sim`` writes
        ``models/sim/policy``); :meth:`learn` loads it instead of cloning the stories. Its network, featurizer
        and architecture (``max_history``, ``hidden_sizes``, ``activation_fn``) replace the configured ones; its
        actions must be the domain's. A relative path is read from the working directory (the project root).
    :param rl: a reinforcement-learning stage after :meth:`learn`, run by ``kefu train`` against the project's
        simulated shoppers (``simulator.yml``), e.g. ``{algo: maskable_ppo, timesteps: 40000, nlu_error: 0.1,
        warm_start: stories}``; its keys are :class:`simulator.training.TrainConfig`'s (see
        :mod:`simulator.rl_stage`). None: behaviour cloning only.
    """

    rasa_names = ("TEDPolicy", "KefuMLPolicy")
    scores_actions_only = True

    def __init__(
        self,
        max_history: int = DEFAULT_MAX_HISTORY,
        hidden_sizes: Sequence[int] = (128, 128),
        activation_fn: str = "tanh",
        epochs: int = 100,
        batch_size: int = 32,
        learning_rate: float = 3e-3,
        weight_decay: float = 0.0,
        seed: int = 42,
        train_on_rules: bool = True,
        use_requested_slot: bool | None = None,
        priority: int = DEFAULT_POLICY_PRIORITY,
        num_threads: int = 1,
        verbose: int = 0,
        pretrained: str | None = None,
        rl: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(priority)
        if activation_fn not in ACTIVATION_NAMES:
            raise PolicyError(f"activation_fn must be one of {sorted(ACTIVATION_NAMES)}, got {activation_fn!r}")
        self.max_history = int(max_history)
        self.hidden_sizes = [int(h) for h in hidden_sizes]
        self.activation_fn = activation_fn
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)
        self.train_on_rules = train_on_rules
        self.use_requested_slot = use_requested_slot
        self.num_threads = int(num_threads)
        self.verbose = verbose
        self.pretrained = str(pretrained) if pretrained else None
        if rl is not None and not isinstance(rl, dict):
            raise PolicyError(f"rl must be a mapping of training settings (e.g. {{algo: maskable_ppo}}), got {rl!r}")
        self.rl = dict(rl) if rl else None
        self.featurizer: TrackerFeaturizer | None = None
        self._network: Any = None  # MaskableActorCriticPolicy once built
        self._weights_file: Path | None = None  # saved torch weights not read yet (see `network`)
        self._actor: NumpyActor | None = None  # the loaded actor, while it is the network's current state
        self.training_loss: list[float] = []

    @property
    def network(self) -> Any:
        """The SB3 ``MaskableActorCriticPolicy`` (None before learn/setup/load). A loaded policy predicts
        with its numpy actor and builds this (importing PyTorch) on first access; from then on predictions
        run through the network, since whoever asked for it may change its weights."""
        if self._network is None and self._weights_file is not None:
            import torch as th

            self._build_network()
            self._network.load_state_dict(th.load(self._weights_file, weights_only=True))
            self._network.set_training_mode(False)
            self._weights_file = None
        self._actor = None
        return self._network

    @network.setter
    def network(self, value: Any) -> None:
        self._network, self._weights_file, self._actor = value, None, None

    def _has_network(self) -> bool:
        return self._network is not None or self._weights_file is not None

    # -- SB3 interface ---------------------------------------------------------------------------
    @property
    def sb3_policy_class(self) -> type:
        """sb3-contrib's ``MaskableActorCriticPolicy`` (its state dict also fits SB3's ``ActorCriticPolicy``)."""
        return _sb3_policy_class()

    @property
    def action_names(self) -> list[str]:
        """Action ``i`` of the network's output (and of the env's ``Discrete`` space)."""
        self._require_featurizer()
        return list(self.featurizer.action_names)

    @property
    def observation_space(self) -> Any:
        self._require_featurizer()
        return self.featurizer.observation_space

    @property
    def action_space(self) -> Any:
        from gymnasium import spaces

        return spaces.Discrete(len(self.action_names))

    def make_sb3_policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` for an SB3/sb3-contrib actor-critic with exactly this network's shape."""
        return {
            "net_arch": {"pi": list(self.hidden_sizes), "vf": list(self.hidden_sizes)},
            "activation_fn": _activation_class(self.activation_fn),
        }

    def copy_weights_to(self, model: Any) -> None:
        """Load this policy's weights into an SB3 model (``PPO``/``MaskablePPO``) or SB3 policy."""
        self._require_network()
        target = getattr(model, "policy", model)
        target.load_state_dict(self.network.state_dict())

    def copy_weights_from(self: SelfML, model: Any) -> SelfML:
        """Take the weights of an SB3 model or policy built with :meth:`make_sb3_policy_kwargs`."""
        self._require_network()
        source = getattr(model, "policy", model)
        self.network.load_state_dict(source.state_dict())
        return self

    def make_sb3_model(self, env: Any, algorithm: type | None = None, **algorithm_kwargs: Any) -> Any:
        """An SB3 model (``MaskablePPO`` by default) on ``env`` with this network's shape and weights.

        :param env: a Gymnasium env (or SB3 VecEnv) whose observations come from this policy's featurizer
            and whose ``Discrete`` actions are :attr:`action_names`
        :param algorithm: an SB3/sb3-contrib on-policy algorithm class (``MaskablePPO``, ``PPO``, ``A2C``)
        :param algorithm_kwargs: passed on (``n_steps``, ``gamma``, ``learning_rate``, ``seed``, ...)
        """
        self._require_network()
        self._check_env(env)
        if algorithm is None:
            from sb3_contrib import MaskablePPO

            algorithm = MaskablePPO
        policy_class = self.sb3_policy_class if algorithm.__name__.startswith("Maskable") else "MlpPolicy"
        algorithm_kwargs.setdefault("seed", self.seed)
        algorithm_kwargs.setdefault("device", "cpu")
        model = algorithm(policy_class, env, policy_kwargs=self.make_sb3_policy_kwargs(), **algorithm_kwargs)
        self.copy_weights_to(model)
        return model

    def finetune(self: SelfML, env: Any, total_timesteps: int, algorithm: type | None = None,
                 **algorithm_kwargs: Any) -> SelfML:
        """Reinforcement learning from the current (e.g. behaviour-cloned) weights; keeps the result.

        Builds :meth:`make_sb3_model`, runs ``model.learn(total_timesteps)`` and copies the weights back.
        """
        model = self.make_sb3_model(env, algorithm, **algorithm_kwargs)
        with _torch_threads(self.num_threads):
            model.learn(total_timesteps=total_timesteps)
        self.copy_weights_from(model)
        self.network.set_training_mode(False)
        return self

    def _check_env(self, env: Any) -> None:
        expected = (self.featurizer.observation_size,)
        shape = getattr(getattr(env, "observation_space", None), "shape", None)
        if shape != expected:
            raise PolicyError(
                f"the env's observation_space has shape {shape}, but this policy's featurizer produces {expected}: "
                f"build the env's observations with policy.featurizer (same domain and max_history)"
            )
        n = getattr(getattr(env, "action_space", None), "n", None)
        if n != len(self.action_names):
            raise PolicyError(
                f"the env has {n} actions, but this policy scores {len(self.action_names)} "
                f"(action i must be policy.action_names[i], i.e. domain.action_names at training time)"
            )

    def setup(self: SelfML, domain: Domain) -> SelfML:
        """Build the featurizer and a freshly (seeded) initialised network for ``domain`` (no training)."""
        self.featurizer = TrackerFeaturizer(domain, self.max_history, self.use_requested_slot)
        self._build_network()
        return self

    def _build_network(self) -> None:
        import torch as th
        from gymnasium import spaces

        cls = _sb3_policy_class()
        with th.random.fork_rng(devices=[]), _torch_threads(self.num_threads):
            th.manual_seed(self.seed)
            self._network = cls(
                self.featurizer.observation_space,
                spaces.Discrete(len(self.featurizer.action_names)),
                _constant_schedule(self.learning_rate),
                optimizer_class=_UnusedOptimizer,
                **self.make_sb3_policy_kwargs(),
            )
        self._network.set_training_mode(False)

    def _require_featurizer(self) -> None:
        if self.featurizer is None:
            raise PolicyError("the policy has no featurizer yet: call learn(...) or setup(domain) first")

    def _require_network(self) -> None:
        if not self._has_network():
            raise PolicyError("the policy has no network yet: call learn(...) or setup(domain) first")

    # -- behaviour cloning -------------------------------------------------------------------------
    def training_examples(
        self, trackers: Sequence[TrainingTracker], domain: Domain
    ) -> tuple[np.ndarray, np.ndarray]:
        """(observations, action indices) of every predictable action, duplicates removed."""
        self._require_featurizer()
        featurizer = self.featurizer
        index = {name: i for i, name in enumerate(featurizer.action_names)}
        seen: set[tuple[bytes, int]] = set()
        xs: list[np.ndarray] = []
        ys: list[int] = []
        for tracker in trackers:
            if tracker.is_rule and not self.train_on_rules:
                continue
            states, actions = states_and_actions(
                tracker.events, domain, with_requested_slot=featurizer.uses_requested_slot
            )
            for i, action in enumerate(actions):
                name = action.get("name")
                if name not in index:
                    continue
                window = _after_snippet(states[: i + 1])
                if not window:
                    continue  # the first action after a rule's `...` is unpredictable
                x = featurizer.featurize_states(window)
                marker = (x.tobytes(), index[name])
                if marker in seen:
                    continue
                seen.add(marker)
                xs.append(x)
                ys.append(index[name])
        if not xs:
            return np.zeros((0, featurizer.observation_size), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.stack(xs), np.asarray(ys, dtype=np.int64)

    def learn(self: SelfML, trackers: Sequence[TrainingTracker], domain: Domain) -> SelfML:
        """Behaviour cloning: fit the actor to the next actions of the stories (and rules).

        With ``pretrained`` set, the stories are not used: the saved policy is loaded instead.
        """
        if self.pretrained:
            return self._load_pretrained(domain)
        import torch as th
        from torch import nn

        self.setup(domain)
        x, y = self.training_examples(trackers, domain)
        self.training_loss = []
        if len(y) == 0:
            logger.warning("KefuMLPolicy: no training examples; the policy will predict nothing")
            return self
        obs = th.as_tensor(x)
        labels = th.as_tensor(y)
        optimizer = th.optim.Adam(self._actor_parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        generator = th.Generator().manual_seed(self.seed)
        loss_fn = nn.CrossEntropyLoss()
        self.network.set_training_mode(True)
        with _torch_threads(self.num_threads):
            self.training_loss = self._fit(obs, labels, optimizer, generator, loss_fn, self.epochs, self.batch_size)
        self.network.set_training_mode(False)
        return self

    def imitate(self, observations: np.ndarray, labels: np.ndarray, epochs: int, learning_rate: float = 1e-3,
                batch_size: int = 256) -> dict[str, float]:
        """Fit the actor (not the value head) to choose ``labels[i]`` on ``observations[i]`` without masks.

        The simulator distils an RL-trained policy with it: the labels are its own masked choices, so it learns
        to act as well where ``kefu run`` has no masks. Returns the share of observations where the argmax agrees
        with the label before and after (``states``, ``agreement_before``, ``agreement_after``).
        """
        import torch as th
        from torch import nn

        self._require_network()
        x = th.as_tensor(np.asarray(observations, dtype=np.float32))
        y = th.as_tensor(np.asarray(labels, dtype=np.int64))

        def agreement() -> float:
            with th.no_grad():
                return float((self._logits(x).argmax(dim=1) == y).float().mean())

        with _torch_threads(self.num_threads):
            before = agreement()
            optimizer = th.optim.Adam(self._actor_parameters(), lr=learning_rate)
            generator = th.Generator().manual_seed(self.seed)
            self.network.set_training_mode(True)
            self._fit(x, y, optimizer, generator, nn.CrossEntropyLoss(), epochs, batch_size)
            self.network.set_training_mode(False)
            after = agreement()
        return {"states": len(y), "agreement_before": round(before, 4), "agreement_after": round(after, 4)}

    def _actor_parameters(self) -> list[Any]:
        """The network's parameters except the value head's (imitation trains the actor only)."""
        return [p for name, p in self.network.named_parameters()
                if not name.startswith(("value_net", "mlp_extractor.value"))]

    def _load_pretrained(self: SelfML, domain: Domain) -> SelfML:
        """Take over the network and featurizer saved in ``self.pretrained`` (see ``pretrained``)."""
        path = Path(self.pretrained)
        if not (path / FEATURIZER_FILE).exists() or not (path / WEIGHTS_FILE).exists():
            raise PolicyError(f"KefuMLPolicy pretrained: {path} holds no trained KefuMLPolicy (expected params.json, "
                              f"{FEATURIZER_FILE} and {WEIGHTS_FILE}, as `kefu sim train --out DIR` writes to "
                              "DIR/policy)")
        try:
            loaded = type(self).load(path)
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            raise PolicyError(f"KefuMLPolicy pretrained: cannot load {path}: {exc}") from exc
        names, expected = list(loaded.featurizer.action_names), list(domain.action_names)
        if names != expected:
            missing = [a for a in expected if a not in names]
            extra = [a for a in names if a not in expected]
            detail = (f"missing {missing[:5]}" if missing else "") + (f" unknown {extra[:5]}" if extra else "")
            raise PolicyError(f"KefuMLPolicy pretrained: {path} was trained for other actions than the domain's "
                              f"({detail.strip() or 'same actions, other order'}); retrain it with "
                              "`kefu sim train` on this domain")
        vocabulary = TrackerFeaturizer.vocabulary_from_domain(domain, loaded.featurizer.uses_requested_slot)
        if {k: v for k, v in vocabulary.items() if k != "action_names"} != {
                k: v for k, v in loaded.featurizer.vocabulary.items() if k != "action_names"}:
            logger.warning("KefuMLPolicy pretrained: %s was trained on a domain with other intents, entities or "
                           "slots; what it has not seen is ignored", path)
        for name in ("max_history", "hidden_sizes", "activation_fn", "use_requested_slot"):
            if getattr(self, name) != getattr(loaded, name):
                logger.info("KefuMLPolicy pretrained: %s=%r taken from %s", name, getattr(loaded, name), path)
                setattr(self, name, getattr(loaded, name))
        self.featurizer = loaded.featurizer
        self._network, self._weights_file, self._actor = loaded._network, loaded._weights_file, loaded._actor
        self.training_loss = []
        return self

    def _fit(self, obs: th.Tensor, labels: th.Tensor, optimizer: th.optim.Optimizer, generator: th.Generator,
             loss_fn: nn.Module, epochs: int, batch_size: int) -> list[float]:
        """Minibatch cross-entropy epochs on the actor; the mean loss of each epoch."""
        import torch as th

        losses: list[float] = []
        for epoch in range(epochs):
            order = th.randperm(len(labels), generator=generator)
            total = 0.0
            for start in range(0, len(labels), batch_size):
                batch = order[start: start + batch_size]
                logits = self._logits(obs[batch])
                loss = loss_fn(logits, labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            losses.append(total / len(labels))
            if self.verbose and (epoch + 1) % 10 == 0:
                logger.info("KefuMLPolicy epoch %d/%d loss %.4f", epoch + 1, epochs, losses[-1])
        return losses

    def _logits(self, obs: th.Tensor) -> th.Tensor:
        features = self.network.extract_features(obs)
        latent_pi = self.network.mlp_extractor.forward_actor(features)
        return self.network.action_net(latent_pi)

    # -- prediction ------------------------------------------------------------------------------
    def predict_observation(
        self, observation: np.ndarray, action_masks: np.ndarray | None = None
    ) -> np.ndarray:
        """Action probabilities (over :attr:`action_names`) for one observation; masked actions get 0."""
        self._require_network()
        if self._actor is not None:
            return self._actor.probabilities(observation, action_masks)
        import torch as th

        with th.no_grad(), _torch_threads(self.num_threads):
            logits = self._logits(th.as_tensor(np.asarray(observation, dtype=np.float32)).reshape(1, -1))[0]
            if action_masks is not None:
                mask = th.as_tensor(np.asarray(action_masks, dtype=bool))
                logits = th.where(mask, logits, th.tensor(-1e8, dtype=logits.dtype))
            return th.softmax(logits, dim=-1).numpy()

    def predict(self, tracker: TrackerLike, domain: Domain, action_masks: np.ndarray | None = None) -> Prediction:
        """Score every action of ``domain.action_names``.

        :param action_masks: booleans over :attr:`action_names` (True = allowed), as sb3-contrib's
            ``action_masks()``; masked actions get probability 0
        """
        return self._predict(tracker_events(tracker), domain, action_masks)

    def _predict(self, events: list[EventDict], domain: Domain, action_masks: np.ndarray | None = None) -> Prediction:
        if not self._has_network():
            return self._prediction(self._default_probabilities(domain), domain)
        observation = self.featurizer.featurize(events, domain)
        probs = self.predict_observation(observation, action_masks)
        probabilities = self._default_probabilities(domain)
        positions = {name: i for i, name in enumerate(domain.action_names)}
        for name, p in zip(self.featurizer.action_names, probs, strict=True):
            where = positions.get(name)
            if where is not None:
                probabilities[where] = float(p)
        return self._prediction(probabilities, domain)

    # -- persistence -------------------------------------------------------------------------------
    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {
            "max_history": self.max_history,
            "hidden_sizes": list(self.hidden_sizes),
            "activation_fn": self.activation_fn,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
            "train_on_rules": self.train_on_rules,
            "use_requested_slot": self.use_requested_slot,
            "priority": self.priority,
            "num_threads": self.num_threads,
            "verbose": self.verbose,
            "pretrained": self.pretrained,
        }

    def _save_learned(self, path: Path) -> None:
        if not self._has_network():
            return
        (path / FEATURIZER_FILE).write_text(json.dumps(self.featurizer.to_dict(), indent=1), encoding="utf-8")
        if self._network is None and self._weights_file is not None and self._actor is not None:
            # loaded and never changed: its files are still its weights (no torch needed to save it again)
            if self._weights_file.resolve() != (path / WEIGHTS_FILE).resolve():
                shutil.copyfile(self._weights_file, path / WEIGHTS_FILE)
            self._actor.save(path / ACTOR_FILE)
            return
        import torch as th

        state = self.network.state_dict()
        th.save(state, path / WEIGHTS_FILE)
        NumpyActor.from_state_dict(state, self.activation_fn).save(path / ACTOR_FILE)

    def _load_learned(self, path: Path) -> None:
        featurizer_file = path / FEATURIZER_FILE
        if not featurizer_file.exists():
            return
        self.featurizer = TrackerFeaturizer.from_dict(json.loads(featurizer_file.read_text(encoding="utf-8")))
        self.network = None
        self._weights_file = path / WEIGHTS_FILE
        if (path / ACTOR_FILE).is_file():
            self._actor = NumpyActor.load(path / ACTOR_FILE)  # the torch network waits until asked for
        else:
            _ = self.network  # a policy saved before actor.npz existed: predict through torch


class _UnusedOptimizer:
    """Stands in for the optimizer an SB3 policy builds for itself, which Kefu never steps (behaviour cloning
    runs its own Adam; RL trains SB3's own models and copies weights). A real torch optimizer imports
    ``torch._dynamo`` on creation: ~3 s of the bot's cold start on a 2-core machine."""

    def __init__(self, params: Any, lr: float = 0.0, **kwargs: Any) -> None:
        self.param_groups: list[dict[str, Any]] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to reset."""

    def step(self, closure: Any = None) -> None:
        raise PolicyError("KefuMLPolicy's network is trained with learn(...), not through its SB3 optimizer")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


def _after_snippet(states: Sequence[State]) -> list[State]:
    """The states after the last rule snippet (``...``) state; all of them when there is none."""
    for index in range(len(states) - 1, -1, -1):
        if prev_action_name(states[index]) == RULE_SNIPPET_ACTION_NAME:
            return list(states[index + 1:])
    return list(states)
