"""Training on the tiny fixture shop: MaskablePPO solves it in seconds, Q-learning learns, save→load is exact."""

from __future__ import annotations

import numpy as np

from simulator.env import CustomerServiceEnv
from simulator.evaluation import MLPolicyAgent, QAgentAdapter, agent_from_result, evaluate, load_agent
from simulator.qlearning import TabularQLearning
from simulator.training import POLICY_DIR, TrainConfig, behaviour_clone, ml_policy_for, train


def test_maskable_ppo_reaches_high_success_on_the_tiny_shop_in_seconds(trained_ppo, tiny_world):
    result, out = trained_ppo
    metrics = evaluate(agent_from_result(result, tiny_world), tiny_world, nlu_error=0.1, episodes=200, seed=1)
    assert metrics["success_of_achievable"] >= 0.9, metrics
    assert result.curve[0]["timesteps"] == 0 and result.curve[-1]["timesteps"] >= 4_096
    assert result.wall_time_s < 120
    for name in ("model.zip", "train_report.json", "train_curve.png", f"{POLICY_DIR}/params.json",
                 f"{POLICY_DIR}/weights.pt", "best/best_model.zip", "logs/progress.csv", "eval/evaluations.npz"):
        assert (out / name).exists(), name


def test_saved_policy_loads_with_identical_actions(trained_ppo, tiny_world):
    from sb3_contrib import MaskablePPO

    from policies.ml_policy import KefuMLPolicy

    result, out = trained_ppo
    reloaded_zip = MaskablePPO.load(out / "model.zip", device="cpu")
    served = KefuMLPolicy.load(out / POLICY_DIR)
    served_again = KefuMLPolicy.load(out / POLICY_DIR)
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.3)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    agree = 0
    for _ in range(300):
        mask = env.action_masks()
        live, _ = result.agent.predict(obs, action_masks=mask, deterministic=True)
        from_zip, _ = reloaded_zip.predict(obs, action_masks=mask, deterministic=True)
        assert int(live) == int(from_zip)
        unmasked = served.predict_observation(obs)  # as `kefu run` asks it: no simulator masks
        assert np.array_equal(unmasked, served_again.predict_observation(obs))
        agree += int(np.argmax(unmasked)) == int(live)
        action = int(rng.choice(np.flatnonzero(mask))) if rng.random() < 0.3 else int(live)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    # the served policy is distilled to act without the simulator's masks; how closely it follows the masked
    # agent off its training data depends on the run, whose floating point differs between CPUs (266/300 on
    # an AVX2-only VM against the old copy of the engine; on the live engine 247/300 with 30 distillation epochs
    # and 10 % exploration, 260-264/300 with 60 epochs and 20 %, the defaults since)
    assert agree >= 0.85 * 300, agree
    assert result.serving["agreement_after"] >= 0.95 and result.serving["agreement_after"] >= \
        result.serving["agreement_before"]
    agent = load_agent("maskable_ppo", tiny_world, str(out))
    assert isinstance(agent, MLPolicyAgent)


def test_qlearning_baseline_learns_something(tiny_world, tmp_path):
    untrained = evaluate(QAgentAdapter(TabularQLearning(CustomerServiceEnv(world=tiny_world), seed=0)), tiny_world,
                         nlu_error=0.0, episodes=100, seed=1)
    config = TrainConfig(algo="qlearning", timesteps=15_000, nlu_error=0.0, seed=0, eval_freq=5_000, eval_episodes=30)
    result = train(tiny_world, config, tmp_path)
    trained = evaluate(agent_from_result(result, tiny_world), tiny_world, nlu_error=0.0, episodes=100, seed=1)
    assert trained["success_rate"] >= untrained["success_rate"] + 0.25, (untrained, trained)
    assert len(result.agent.q) > 10
    reloaded = load_agent("qlearning", tiny_world, str(tmp_path))
    again = evaluate(reloaded, tiny_world, nlu_error=0.0, episodes=100, seed=1)
    assert again["success_rate"] == trained["success_rate"]


def test_qlearning_is_deterministic_per_seed(tiny_world):
    def q_table(seed):
        agent = TabularQLearning(CustomerServiceEnv(world=tiny_world, nlu_error=0.2), seed=seed, turn_size=0)
        agent.learn(1_500)
        return {k: v.tobytes() for k, v in agent.q.items()}

    assert q_table(3) == q_table(3)


def test_warm_start_copies_the_story_policy_into_the_sb3_actor(tiny_world):
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    config = TrainConfig(hidden_sizes=[32, 32])
    cloned = behaviour_clone(tiny_world, config)
    env = CustomerServiceEnv(world=tiny_world)
    model = MaskablePPO(MaskableActorCriticPolicy, env, policy_kwargs=cloned.make_sb3_policy_kwargs(), seed=0,
                        device="cpu")
    cloned.copy_weights_to(model)
    obs, _ = env.reset(seed=4)
    mask = env.action_masks()
    action, _ = model.predict(obs, action_masks=mask, deterministic=True)
    assert int(action) == int(np.argmax(cloned.predict_observation(obs, mask)))
    # the stories say: return_item -> return_form
    if env.tracker.latest_intent == "return_item":
        assert env.action_names[int(action)] == "return_form"
    untrained = ml_policy_for(tiny_world, config)
    cloned_success = evaluate(MLPolicyAgent(cloned, "bc"), tiny_world, nlu_error=0.0, episodes=50, seed=2)
    untrained_success = evaluate(MLPolicyAgent(untrained, "init"), tiny_world, nlu_error=0.0, episodes=50, seed=2)
    assert cloned_success["success_rate"] >= untrained_success["success_rate"] + 0.3
