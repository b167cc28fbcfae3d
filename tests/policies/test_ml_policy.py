"""KefuMLPolicy: behaviour cloning, determinism, masks, save/load, and the weight copy into SB3."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from policy_support import action, listen, session_start, user

from bot import events as ev
from bot.constants import ACTION_LISTEN_NAME
from policies.evaluation import evaluate_stories
from policies.ml_policy import KefuMLPolicy
from policies.policy import PolicyError
from policies.story_graph import story_to_eval_steps

CONVERSATIONS = [
    session_start() + [user("greet")],
    [listen(), user("greet"), action("utter_greet"), listen(), user("thank")],
    [listen(), user("complain", [{"entity": "order_id", "value": "A1"}]),
     ev.SlotSet("sentiment", "angry", timestamp=0.0), action("utter_sorry")],
    [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0)],
]


class ConstantEnv(gym.Env):
    """Just the spaces (SB3 models need an env to be built; nothing is learned here)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, dtype=np.float32), 0.0, True, False, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(self.action_space.n, dtype=bool)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks: one thread is fastest, and steady on a shared 2-core machine."""
    previous = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(previous)


@pytest.fixture(scope="module")
def trained(request) -> tuple[KefuMLPolicy, object, list]:
    from policy_support import SHOP_DOMAIN, SHOP_RULES, SHOP_STORIES, domain_from_yaml, story_data_from_yaml

    from policies.story_graph import generate_trackers

    domain = domain_from_yaml(SHOP_DOMAIN)
    data = story_data_from_yaml(SHOP_RULES).merge(story_data_from_yaml(SHOP_STORIES))
    trackers = generate_trackers(data, domain)
    return KefuMLPolicy(max_history=4, epochs=60, seed=3).learn(trackers, domain), domain, trackers


def test_behaviour_cloning_fits_the_stories(trained, shop_data):
    policy, domain, _ = trained
    assert policy.training_loss[-1] < 0.1 < policy.training_loss[0]
    result = evaluate_stories(policy, shop_data.stories, domain)
    assert result.accuracy >= 0.9
    prediction = policy.predict(CONVERSATIONS[1], domain)
    assert prediction.policy_name == "KefuMLPolicy" and prediction.priority == 1
    assert prediction.action_name == "utter_welcome"
    assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_seeded_training_is_deterministic(trained):
    policy, domain, trackers = trained
    again = KefuMLPolicy(max_history=4, epochs=60, seed=3).learn(trackers, domain)
    for (name, a), (_, b) in zip(policy.network.state_dict().items(), again.network.state_dict().items(), strict=True):
        assert th.equal(a, b), name
    assert again.training_loss == policy.training_loss
    other = KefuMLPolicy(max_history=4, epochs=2, seed=4).learn(trackers, domain)
    assert not th.equal(other.network.action_net.weight, policy.network.action_net.weight)


def test_action_masks(trained):
    policy, domain, _ = trained
    events = CONVERSATIONS[1]
    best = policy.predict(events, domain).action_name
    mask = np.ones(len(policy.action_names), dtype=bool)
    mask[policy.action_names.index(best)] = False
    masked = policy.predict(events, domain, action_masks=mask)
    assert masked.action_name != best
    assert masked.probabilities[domain.action_names.index(best)] == 0.0
    assert sum(masked.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_save_load_round_trip(trained, tmp_path):
    policy, domain, _ = trained
    policy.save(tmp_path / "ml")
    assert (tmp_path / "ml" / "params.json").exists() and (tmp_path / "ml" / "weights.pt").exists()
    loaded = KefuMLPolicy.load(tmp_path / "ml")
    assert loaded.hidden_sizes == policy.hidden_sizes and loaded.seed == 3
    for events in CONVERSATIONS:
        served, original = loaded.predict(events, domain), policy.predict(events, domain)
        assert served.action_name == original.action_name
        assert served.probabilities == pytest.approx(original.probabilities, abs=1e-6)


def test_a_loaded_policy_predicts_with_its_numpy_actor_exactly_as_the_torch_network(trained, tmp_path):
    """Serving runs the saved actor in numpy; on every step of every training conversation, with and
    without masks, it gives the torch network's probabilities (float32 rounding apart) and action."""
    policy, domain, trackers = trained
    policy.save(tmp_path / "ml")
    assert (tmp_path / "ml" / "actor.npz").is_file()
    loaded = KefuMLPolicy.load(tmp_path / "ml")
    assert loaded._actor is not None and loaded._network is None  # no torch network built to serve
    rng = np.random.default_rng(0)
    observations = [policy.featurizer.featurize(step, domain)
                    for tracker in trackers for step in story_to_eval_steps_from(tracker)]
    assert len(observations) > 50
    for observation in observations:
        mask = rng.random(len(policy.action_names)) < 0.7
        mask[0] = True
        for masks in (None, mask):
            served = loaded.predict_observation(observation, masks)
            original = policy.predict_observation(observation, masks)
            np.testing.assert_allclose(served, original, atol=1e-6)
            assert served.argmax() == original.argmax()
            if masks is not None:
                assert (served[~mask] == 0).all()
    # whoever asks for the network gets the torch one (built from weights.pt), and predictions follow it
    assert th.equal(loaded.network.action_net.weight, policy.network.action_net.weight)
    assert loaded._actor is None
    np.testing.assert_array_equal(loaded.predict_observation(observations[0]), policy.predict_observation(observations[0]))


def test_a_policy_saved_without_the_numpy_actor_still_loads(trained, tmp_path):
    policy, domain, _ = trained
    policy.save(tmp_path / "ml")
    (tmp_path / "ml" / "actor.npz").unlink()  # as policies saved before the actor file existed
    loaded = KefuMLPolicy.load(tmp_path / "ml")
    assert loaded._network is not None
    for events in CONVERSATIONS:
        assert loaded.predict(events, domain).probabilities == policy.predict(events, domain).probabilities


def test_serving_a_saved_policy_does_not_import_torch(trained, tmp_path):
    import json
    import subprocess
    import sys

    policy, domain, _ = trained
    policy.save(tmp_path / "ml")
    observation = policy.featurizer.featurize(CONVERSATIONS[1], domain)
    np.save(tmp_path / "obs.npy", observation)
    code = (
        "import json, sys, numpy as np\n"
        "from policies.ml_policy import KefuMLPolicy\n"
        f"policy = KefuMLPolicy.load({str(tmp_path / 'ml')!r})\n"
        f"probs = policy.predict_observation(np.load({str(tmp_path / 'obs.npy')!r}))\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'probs': probs.tolist()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["torch"] is False
    np.testing.assert_allclose(answer["probs"], policy.predict_observation(observation), atol=1e-6)


def test_untrained_policy_predicts_nothing(shop_domain):
    prediction = KefuMLPolicy().predict([listen(), user("greet")], shop_domain)
    assert prediction.action_name is None and prediction.confidence == 0.0


def _observations(policy: KefuMLPolicy, domain, trackers) -> list[np.ndarray]:
    observations = [policy.featurizer.featurize(events, domain) for events in CONVERSATIONS]
    for tracker in trackers[:6]:
        for step in story_to_eval_steps_from(tracker):
            observations.append(policy.featurizer.featurize(step, domain))
    return observations


def story_to_eval_steps_from(tracker) -> list[list]:
    return [tracker.events[:i] for i, e in enumerate(tracker.events) if e["event"] == ev.ACTION]


def test_bc_weights_copy_into_maskable_ppo(trained):
    from sb3_contrib import MaskablePPO

    policy, domain, trackers = trained
    env = ConstantEnv(policy.observation_space, policy.action_space)
    model = MaskablePPO(policy.sb3_policy_class, env, policy_kwargs=policy.make_sb3_policy_kwargs(), seed=0,
                        n_steps=8, batch_size=8, device="cpu")
    policy.copy_weights_to(model)
    rng = np.random.default_rng(0)
    for obs in _observations(policy, domain, trackers):
        mask = rng.random(len(policy.action_names)) < 0.7
        mask[policy.action_names.index(ACTION_LISTEN_NAME)] = True
        for masks in (None, mask):
            sb3_action, _ = model.predict(obs, deterministic=True, action_masks=masks)
            ours = int(np.argmax(policy.predict_observation(obs, masks)))
            assert int(sb3_action) == ours
    # and back: a fine-tuned SB3 model's weights come home
    with th.no_grad():
        model.policy.action_net.bias.add_(1.0)
    home = KefuMLPolicy(max_history=4, seed=3).setup(domain).copy_weights_from(model)
    assert th.equal(home.network.action_net.bias, model.policy.action_net.bias)


def test_bc_weights_copy_into_plain_ppo(trained):
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

    policy, domain, trackers = trained
    env = ConstantEnv(policy.observation_space, policy.action_space)
    model = PPO(ActorCriticPolicy, env, policy_kwargs=policy.make_sb3_policy_kwargs(), seed=0, n_steps=8,
                batch_size=8, device="cpu")
    policy.copy_weights_to(model)
    for obs in _observations(policy, domain, trackers):
        sb3_action, _ = model.predict(obs, deterministic=True)
        assert int(sb3_action) == int(np.argmax(policy.predict_observation(obs)))


def test_sb3_policy_kwargs_describe_the_network(trained):
    policy, _, _ = trained
    kwargs = policy.make_sb3_policy_kwargs()
    assert kwargs["net_arch"] == {"pi": [128, 128], "vf": [128, 128]}
    assert kwargs["activation_fn"] is th.nn.Tanh
    assert policy.observation_space.shape == (policy.featurizer.observation_size,)
    assert policy.action_space.n == len(policy.action_names)


def test_eval_steps_helper_is_used_consistently(trained):
    policy, domain, _ = trained
    from policy_support import story_data_from_yaml

    data = story_data_from_yaml("""
    stories:
    - story: t
      steps: [{intent: greet}, {action: utter_greet}]
    """)
    steps = story_to_eval_steps(data.stories[0], domain)
    assert policy.predict(steps[1].events_before, domain).action_name == "utter_greet"


class RewardOneActionEnv(ConstantEnv):
    """One-step episodes after a greeting: reward 1 for ``target`` only (a smoke test for finetune)."""

    def __init__(self, policy: KefuMLPolicy, domain, target: int) -> None:
        super().__init__(policy.observation_space, policy.action_space)
        self._obs = policy.featurizer.featurize([listen(), user("greet"), action("utter_greet")], domain)
        self._target = target

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs, {}

    def step(self, action):
        return self._obs, float(action == self._target), True, False, {}


def test_make_sb3_model_and_finetune(trained):
    policy, domain, trackers = trained
    obs = policy.featurizer.featurize([listen(), user("greet"), action("utter_greet")], domain)
    before = policy.predict_observation(obs)
    # reward an action the cloned policy does not choose here: RL must move probability towards it
    target = int(np.argsort(before)[-2])
    env = RewardOneActionEnv(policy, domain, target)
    model = policy.make_sb3_model(env, n_steps=16, batch_size=16, n_epochs=1)
    assert int(model.predict(obs, deterministic=True)[0]) == int(np.argmax(before))
    tuned = KefuMLPolicy(max_history=4, epochs=60, seed=3).learn(trackers, domain)
    tuned.finetune(env, total_timesteps=256, n_steps=64, batch_size=32, n_epochs=4, learning_rate=3e-3, ent_coef=0.01)
    after = tuned.predict_observation(obs)
    assert after[target] > before[target], (before[target], after[target])
    wrong = ConstantEnv(gym.spaces.Box(0.0, 1.0, (3,)), policy.action_space)
    with pytest.raises(PolicyError, match="observation_space has shape"):
        policy.make_sb3_model(wrong)
