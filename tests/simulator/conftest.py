"""Fixtures of the simulator tests: the tiny fixture shop (one task: return an item) and the demo shop."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.world import SimulatorWorld, load_world

TINY_SHOP = Path(__file__).resolve().parent / "fixtures" / "tiny_shop"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_shop() -> Path:
    """The tiny fixture shop's project directory."""
    return TINY_SHOP


@pytest.fixture(scope="session")
def tiny_world() -> SimulatorWorld:
    return load_world(TINY_SHOP)


@pytest.fixture(scope="session")
def demo_world() -> SimulatorWorld:
    return load_world(REPO_ROOT)


FAST_PPO = dict(algo="maskable_ppo", timesteps=4_096, nlu_error=0.1, seed=0, n_envs=4, eval_freq=4_096,
                eval_episodes=20, n_steps=128, batch_size=128, learning_rate=3e-3, ent_coef=0.01,
                hidden_sizes=[64, 64], n_epochs=10, distill_episodes=300, warm_start="stories")


@pytest.fixture(scope="session")
def trained_ppo(tiny_world, tmp_path_factory):
    """MaskablePPO warm-started from the stories and trained on the tiny shop (seconds), saved with its export."""
    from simulator.training import TrainConfig, train

    out = tmp_path_factory.mktemp("ppo")
    return train(tiny_world, TrainConfig(**FAST_PPO), out), out


TINY_NLU_CONFIG = [
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexEntityExtractor"},
    {"name": "KefuTransformerClassifier", "epochs": 2, "trainable_layers": 0, "sentiment_corpus": False,
     "validation_fraction": 0.0, "ood_detector": "none", "num_threads": 1, "head_learning_rate": 1e-2},
]


@pytest.fixture(scope="session")
def tiny_nlu_model(tmp_path_factory, tiny_world) -> str:
    """Kefu's real NLU pipeline trained on the tiny shop's examples (frozen encoder, seconds)."""
    from nlu import NLUPipeline

    pipeline = NLUPipeline.from_config(TINY_NLU_CONFIG).train(tiny_world.nlu, seed=0, progress=False)
    folder = tmp_path_factory.mktemp("nlu")
    pipeline.save(folder)
    return str(folder)
