"""`kefu sim evaluate --url`: simulated shoppers drive a running `kefu run` over REST, and score what it did."""

from __future__ import annotations

import json

import pytest

from tests.simulator.test_equivalence import _kefu_run
from tests.simulator.test_served_policy import _action_server, _model_folder
from tests.simulator.test_sim_cmd import TINY_SHOP, _run


@pytest.mark.timeout(600)
def test_remote_evaluation_scores_the_running_server_as_in_process(tiny_world, trained_ppo, tiny_nlu_model, tmp_path):
    from simulator.training import POLICY_DIR

    _, out = trained_ppo
    folder = _model_folder(tmp_path, tiny_world, out / POLICY_DIR, tiny_nlu_model)
    common = ["evaluate", "--project", str(TINY_SHOP), "--episodes", "60", "--nlu-error", "0", "--seed", "3",
              "--split", "all"]
    with _action_server() as action_url, _kefu_run(folder, action_url, tmp_path) as url:
        assert _run([*common, "--url", url, "--out", str(tmp_path / "remote.json")]) == 0
    assert _run([*common, "--model", str(folder), "--payloads", "--out", str(tmp_path / "local.json")]) == 0
    remote = json.loads((tmp_path / "remote.json").read_text())
    local = json.loads((tmp_path / "local.json").read_text())
    assert remote["episodes"] == local["episodes"] == 60
    # the same model, the same shoppers saying the same payloads: the same dialogues, in process or behind `kefu run`
    assert remote["outcomes"] == local["outcomes"]
    assert remote["avg_bot_actions"] == local["avg_bot_actions"]
    assert remote["success_rate"] > 0.5


def test_remote_evaluation_names_a_server_that_is_not_there(tmp_path):
    from simulator.remote import RemoteError

    with pytest.raises(RemoteError, match="cannot talk to"):
        _run(["evaluate", "--project", str(TINY_SHOP), "--episodes", "1", "--url", "http://127.0.0.1:9"])
