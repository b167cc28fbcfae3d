"""The text level: shopper acts rendered to text and parsed by Kefu's real NLU (a tiny model trained here)."""

from __future__ import annotations

import pytest

from simulator.env import CustomerServiceEnv
from simulator.rule_policy import HappyPathPolicy


def test_text_level_parses_rendered_messages_with_the_real_nlu(tiny_world, tiny_nlu_model):
    env = CustomerServiceEnv(world=tiny_world, level="text", nlu_model=tiny_nlu_model, render_mode="ansi")
    policy = HappyPathPolicy.from_world(tiny_world)
    finished = 0
    for seed in range(4):
        env.reset(seed=seed)
        message = env.tracker.latest_message
        assert message["text"] and not message["text"].startswith("/"), message["text"]
        assert message["intent"]["name"] in tiny_world.domain.all_intents
        assert "intent_ranking" in message and "sentiment" in message  # the NLU's own parse, not the error model's
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(policy.act(env))
            done = terminated or truncated
        finished += 1
        assert "is_success" in info
    assert finished == 4
    assert "bot heard:" in env.render()


def test_text_level_without_a_model_says_how_to_get_one(tiny_world):
    with pytest.raises(ValueError, match="kefu train nlu"):
        CustomerServiceEnv(world=tiny_world, level="text")


def test_text_channel_uses_the_project_examples(tiny_world, tiny_nlu_model):
    import numpy as np

    from simulator.channel import TextChannel, TextRenderer, load_nlu_pipeline
    from simulator.user import UserAct

    channel = TextChannel(load_nlu_pipeline(tiny_nlu_model), TextRenderer(tiny_world.nlu.examples, tiny_world.domain))
    act = UserAct("inform", {"order_id": "A10004"})
    parse = channel.parse(act, np.random.default_rng(0))
    assert "A10004" in act.text
    assert {"entity": "order_id", "value": "A10004"}.items() <= next(
        e for e in parse["entities"] if e["entity"] == "order_id").items()
