"""`kefu sim compare` measures assistants as served: trained model folders and the Rasa-style ensemble."""

from __future__ import annotations

import json

import pytest

from bot.errors import KefuError
from tests.simulator.test_served_policy import _model_folder
from tests.simulator.test_sim_cmd import TINY_SHOP, _run


def test_compare_evaluates_a_served_model_against_the_rasa_style_ensemble(tiny_world, trained_ppo, tiny_nlu_model,
                                                                          tmp_path, capsys):
    from simulator.training import POLICY_DIR

    _, out = trained_ppo
    folder = _model_folder(tmp_path, tiny_world, out / POLICY_DIR, tiny_nlu_model)
    report_dir = tmp_path / "compare"
    assert _run(["compare", "--project", str(TINY_SHOP), "--policies", "rasa_style", "--model", f"rl={folder}",
                 "--noise", "0,0.2", "--seeds", "2", "--episodes", "60", "--out", str(report_dir)]) == 0
    report = json.loads((report_dir / "compare.json").read_text())
    summary = report["summary"]
    assert {"rasa_style", "rl"} <= set(summary)
    for name in ("rasa_style", "rl"):
        for noise in ("0", "0.2"):
            row = summary[name][noise]
            assert row["seeds"] == 2 and 0.0 <= row["success_mean"] <= row["achievable"]
    # the tiny shop's rules serve the clean return flow; under NLU noise (misheard intents, wrong or missing
    # values) the RL-trained model recovers where rules alone do not
    assert summary["rl"]["0.2"]["success_mean"] > summary["rasa_style"]["0.2"]["success_mean"]
    assert "rl" in capsys.readouterr().out


def test_compare_names_a_bad_model_argument(tmp_path):
    with pytest.raises(KefuError, match="NAME=PATH"):
        _run(["compare", "--project", str(TINY_SHOP), "--policies", "rasa_style", "--model", "just-a-path",
              "--out", str(tmp_path)])
    with pytest.raises(KefuError, match="does not exist"):
        _run(["compare", "--project", str(TINY_SHOP), "--policies", "rule", "--baseline", str(tmp_path / "none"),
              "--out", str(tmp_path)])
