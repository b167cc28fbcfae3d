"""RL is a training stage of the product: `rl:` on a KefuMLPolicy makes `kefu train` fine-tune it in the simulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.model_archive import train_model
from bot.project import load_project
from simulator.rl_stage import RLStageError, rl_train_config
from tests.simulator.conftest import TINY_SHOP

RL = {"algo": "maskable_ppo", "timesteps": 2_048, "nlu_error": 0.1, "n_envs": 2, "n_steps": 128, "batch_size": 128,
      "eval_freq": 2_048, "eval_episodes": 20, "distill_episodes": 200, "learning_rate": 3e-3}


def _shop_with(tmp_path: Path, policy: dict) -> Path:
    shop = tmp_path / "shop"
    shutil.copytree(TINY_SHOP, shop)
    config = yaml.safe_load((shop / "config.yml").read_text())
    config["policies"] = [{"name": "RulePolicy"}, policy]
    (shop / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return shop


@pytest.mark.timeout(600)
def test_kefu_train_runs_the_rl_stage_and_skips_it_when_nothing_changed(tmp_path, monkeypatch):
    shop = _shop_with(tmp_path, {"name": "KefuMLPolicy", "epochs": 60, "hidden_sizes": [64, 64], "rl": RL})
    monkeypatch.chdir(shop)
    project = load_project()
    first = train_model(project, "models", parts=("core",))
    first_core = (first.path / "core").resolve()
    report = json.loads((first.path / "core" / "rl" / "train_report.json").read_text())
    assert report["config"]["timesteps"] == RL["timesteps"] and report["config"]["hidden_sizes"] == [64, 64]
    assert (first.path / "core" / "rl" / "train_curve.png").stat().st_size > 0
    assert report["serving_export"]["agreement_after"] >= report["serving_export"]["agreement_before"]

    # the behaviour-cloned policy alone (same seed, no rl) predicts differently: the RL weights were packed
    plain = _shop_with(tmp_path / "plain", {"name": "KefuMLPolicy", "epochs": 60, "hidden_sizes": [64, 64]})
    monkeypatch.chdir(plain)
    cloned_core = (train_model(load_project(), "models", parts=("core",)).path / "core").resolve()
    from policies import PolicyEnsemble

    rl_policy = PolicyEnsemble.load(first_core).policies[1]
    bc_policy = PolicyEnsemble.load(cloned_core).policies[1]
    observations = np.random.default_rng(0).random((50, rl_policy.featurizer.observation_size)).astype(np.float32)
    assert any(not np.allclose(rl_policy.predict_observation(o), bc_policy.predict_observation(o))
               for o in observations)

    monkeypatch.chdir(shop)
    again = train_model(load_project(), "models", parts=("core",))
    assert again.unchanged  # nothing changed: no new model, no new RL run
    (shop / "simulator.yml").write_text((shop / "simulator.yml").read_text().replace("max_turns: 14", "max_turns: 16"))
    changed = train_model(load_project(), "models", parts=("core",))
    assert changed.trained == ["core"]  # the shoppers changed: the RL stage reruns


def test_rl_settings_errors_name_the_key():
    from policies.ml_policy import KefuMLPolicy

    with pytest.raises(RLStageError, match="timestep"):
        rl_train_config(KefuMLPolicy(rl={"timestep": 10}))
    assert rl_train_config(KefuMLPolicy(seed=7, rl={"timesteps": 10})).seed == 7
