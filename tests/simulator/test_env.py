"""CustomerServiceEnv: the Gymnasium/SB3 contract, determinism, masks, rewards and episode ends."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from policies.featurizer import TrackerFeaturizer
from simulator import ENV_ID
from simulator.engine import comparable_events
from simulator.env import MAX_ACTIONS_PER_TURN, CustomerServiceEnv
from simulator.goals import UserGoal
from simulator.rule_policy import HappyPathPolicy


def _goal(world, achievable: bool = True, **changes) -> UserGoal:
    goal = next(g for g in world.goals.goals if g.achievable == achievable and not g.decoy_intent)
    from dataclasses import replace

    return replace(goal, **changes)


def _step_named(env: CustomerServiceEnv, name: str):
    return env.step(env.action_index[name])


def test_gymnasium_check_env_passes(tiny_world):
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.2)
    gym_check_env(env, skip_render_check=True)


def test_sb3_check_env_passes(tiny_world):
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.2)
    sb3_check_env(env, warn=True)


def test_registered_id_builds_the_env_with_a_time_limit(tiny_shop):
    env = gym.make(ENV_ID, project_root=str(tiny_shop), max_episode_steps=12)
    obs, info = env.reset(seed=3)
    assert env.spec.id == "kefu/CustomerService-v0"
    assert obs.shape == env.observation_space.shape
    assert "goal_id" in info
    assert env.unwrapped.action_masks().dtype == bool


def test_observation_is_the_policies_featurizer_vector(demo_world):
    env = CustomerServiceEnv(world=demo_world)
    obs, _ = env.reset(seed=0)
    featurizer = TrackerFeaturizer(demo_world.domain, max_history=5)
    assert env.observation_space.shape == (featurizer.observation_size,)
    assert np.array_equal(obs, featurizer.featurize(env.tracker))
    assert env.action_space.n == len(demo_world.domain.action_names)


def _rollout(world, seed: int, steps: int = 400) -> tuple[list[np.ndarray], list[float], list[dict]]:
    env = CustomerServiceEnv(world=world, nlu_error=0.2)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    observations, rewards, infos = [obs], [], [info]
    for _ in range(steps):
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        if terminated or truncated:
            obs, info = env.reset()
            observations.append(obs)
            infos.append(info)
    return observations, rewards, infos


def test_seeded_rollout_is_bit_identical(demo_world):
    a = _rollout(demo_world, seed=11)
    b = _rollout(demo_world, seed=11)
    assert len(a[0]) == len(b[0])
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a[0], b[0], strict=True))
    assert np.array(a[1]).tobytes() == np.array(b[1]).tobytes()
    assert a[2] == b[2]
    c = _rollout(demo_world, seed=12)
    assert any(x.tobytes() != y.tobytes() for x, y in zip(a[0], c[0], strict=False))


def test_seeded_episode_events_replay_identically(tiny_world):
    def events(seed):
        env = CustomerServiceEnv(world=tiny_world, nlu_error=0.3)
        policy = HappyPathPolicy.from_world(tiny_world)
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(policy.act(env))
            done = terminated or truncated
        return comparable_events(env.tracker.events)

    assert events(5) == events(5)


def test_masks_forbid_what_they_should(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world, upfront=())})
    mask = env.action_masks()
    idx = env.action_index
    assert not mask[idx["action_listen"]], "the bot must say something before listening"
    assert not mask[idx["action_start_return"]], "no order lookup without an order id and email"
    assert not mask[idx["action_deactivate_loop"]], "no form to deactivate"
    for builtin in ("action_restart", "action_session_start", "action_back", "action_extract_slots",
                    "action_two_stage_fallback", "action_unlikely_intent"):
        assert not mask[idx[builtin]], builtin
    assert mask[idx["return_form"]] and mask[idx["utter_ask_order_id"]] and mask[idx["action_handoff"]]
    _step_named(env, "return_form")
    mask = env.action_masks()
    assert mask[idx["action_listen"]]
    assert not mask[idx["return_form"]], "the same action twice in one turn"
    assert not mask[idx["action_default_fallback"]], "fallback only right after a user message"
    assert mask[idx["action_deactivate_loop"]]
    _step_named(env, "utter_greet")
    _step_named(env, "utter_ask_email")
    assert len(env._turn_actions) == MAX_ACTIONS_PER_TURN
    assert np.flatnonzero(env.action_masks()).tolist() == [idx["action_listen"]]


def test_order_lookup_is_unmasked_once_both_slots_are_filled(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world, upfront=("order_id", "email"))})
    assert env.tracker.get_slot("order_id") and env.tracker.get_slot("email")
    assert env.action_masks()[env.action_index["action_start_return"]]


def test_invalid_action_is_a_costly_no_op(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world, upfront=())})
    before = list(env.tracker.events)
    obs, reward, terminated, truncated, info = _step_named(env, "action_start_return")
    rc = env.reward_config
    assert reward == rc.turn + rc.invalid_action
    assert env.tracker.events == before
    assert not terminated and not truncated


def test_successful_dialogue_ends_with_the_success_reward(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    policy = HappyPathPolicy.from_world(tiny_world)
    env.reset(seed=1, options={"goal": _goal(tiny_world)})
    rewards, done = [], False
    while not done:
        _, reward, terminated, truncated, info = env.step(policy.act(env))
        rewards.append(reward)
        done = terminated or truncated
    rc = env.reward_config
    assert terminated and not truncated
    assert info["is_success"] is True and info["outcome"] == "success"
    assert rc.success == 2 * tiny_world.max_turns
    assert rewards[-1] == rc.turn + rc.success
    assert env.tracker.latest_action_name == "action_listen"
    with pytest.raises(RuntimeError):
        env.step(0)


def test_unrequested_handoff_is_a_failure_with_the_handoff_cost(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world)})
    _, reward, terminated, _, info = _step_named(env, "action_handoff")
    rc = env.reward_config
    assert terminated and info["outcome"] == "handoff" and info["is_success"] is False
    assert reward == rc.turn + rc.handoff + rc.failure
    assert env.tracker.paused


def test_requested_handoff_costs_only_the_handoff(tiny_world):
    env = CustomerServiceEnv(world=tiny_world, nlu_error=0.0)
    goal = _goal(tiny_world, achievable=False)
    policy = HappyPathPolicy.from_world(tiny_world)
    env.reset(seed=0, options={"goal": goal})
    done, reward, info = False, 0.0, {}
    while not done:
        _, reward, terminated, truncated, info = env.step(policy.act(env))
        done = terminated or truncated
    rc = env.reward_config
    assert info["outcome"] == "handoff" and info["asked_human"] and not info["is_success"]
    assert reward == rc.turn + rc.handoff


def test_goodbye_before_the_goal_fails(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world)})
    _, reward, terminated, _, info = _step_named(env, "utter_goodbye")
    assert terminated and info["outcome"] == "bot_ended" and not info["is_success"]
    assert reward == env.reward_config.turn + env.reward_config.failure


def test_time_limit_truncates_with_the_failure_reward(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world)})
    truncated = terminated = False
    steps = 0
    while not (truncated or terminated):
        _, reward, terminated, truncated, info = _step_named(env, "action_restart")  # always a no-op
        steps += 1
    assert truncated and not terminated and steps == tiny_world.max_turns
    assert info["outcome"] == "timeout" and info["is_success"] is False
    rc = env.reward_config
    assert reward == rc.turn + rc.invalid_action + rc.failure


def test_mood_penalty_on_a_repeated_question(tiny_world):
    env = CustomerServiceEnv(world=tiny_world)
    env.reset(seed=0, options={"goal": _goal(tiny_world, upfront=())})
    rc = env.reward_config
    for _ in range(3):
        _step_named(env, "utter_ask_order_id")
        mood = env.user.mood
        _, reward, *_ = _step_named(env, "action_listen")
    assert env.user.mood < mood
    assert reward == pytest.approx(rc.turn - rc.mood * (mood - env.user.mood))


def test_render_ansi_is_the_transcript(tiny_world):
    env = CustomerServiceEnv(world=tiny_world, render_mode="ansi")
    env.reset(seed=2)
    _step_named(env, "return_form")
    text = env.render()
    assert text.startswith("goal: return_item")
    assert "bot: return_form -> asks" in text
