"""``KefuMLPolicy pretrained: <dir>``: serve a policy trained elsewhere (``kefu sim train``) from config.yml."""

from __future__ import annotations

import numpy as np
import pytest
from policy_support import SHOP_DOMAIN, action, domain_from_yaml, listen, session_start, user

from bot import events as ev
from policies.ensemble import PolicyEnsemble
from policies.ml_policy import KefuMLPolicy
from policies.policy import PolicyError

CONVERSATIONS = [
    session_start() + [user("greet")],
    [listen(), user("greet"), action("utter_greet"), listen(), user("thank")],
    [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0)],
]
TINY = {"epochs": 5, "hidden_sizes": [16], "max_history": 3, "seed": 3}


@pytest.fixture
def saved_policy(shop_domain, shop_trackers, tmp_path):
    policy = KefuMLPolicy(**TINY).learn(shop_trackers, shop_domain)
    policy.save(tmp_path / "sim" / "policy")
    return policy, tmp_path / "sim" / "policy"


def test_ensemble_serves_the_pretrained_policy(saved_policy, shop_domain, shop_data, tmp_path):
    trained, path = saved_policy
    # the config's architecture differs on purpose: the saved one wins; the stories are not trained on
    config = [{"name": "TEDPolicy", "max_history": 5, "epochs": 500, "pretrained": str(path)}]
    ensemble = PolicyEnsemble.from_config(config, shop_domain).learn(shop_data, shop_domain)
    served = ensemble.policies[0]
    reference = PolicyEnsemble([trained])
    assert isinstance(served, KefuMLPolicy) and served.max_history == 3 and served.training_loss == []
    for events in CONVERSATIONS:
        expected = trained.predict(events, shop_domain)
        got = served.predict(events, shop_domain)
        np.testing.assert_allclose(got.probabilities, expected.probabilities, rtol=0, atol=1e-7)
        assert ensemble.predict(events, shop_domain).action_name == reference.predict(events, shop_domain).action_name
    # and the model folder written from it serves the same predictions without the pretrained dir
    ensemble.save(tmp_path / "core")
    reloaded = PolicyEnsemble.load(tmp_path / "core").policies[0]
    for events in CONVERSATIONS:
        assert reloaded.predict(events, shop_domain).probabilities == served.predict(events, shop_domain).probabilities


def test_missing_directory_is_a_clear_error(shop_domain, shop_trackers, tmp_path):
    missing = tmp_path / "models" / "sim" / "policy"
    with pytest.raises(PolicyError, match=str(missing)):
        KefuMLPolicy(pretrained=str(missing)).learn(shop_trackers, shop_domain)


def test_other_actions_are_refused(saved_policy, shop_trackers):
    _, path = saved_policy
    other = domain_from_yaml(SHOP_DOMAIN.replace("  - action_handoff\n", "  - action_handoff\n  - action_refund\n"))
    assert "action_refund" in other.action_names
    with pytest.raises(PolicyError, match=rf"{path}.*action_refund"):
        KefuMLPolicy(pretrained=str(path)).learn(shop_trackers, other)
