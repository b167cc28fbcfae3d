"""PolicyEnsemble: config.yml names, Rasa 3.x priorities, core fallback, votes, save/load, contradictions."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from policy_support import SHOP_STORIES, action, listen, session_start, story_data_from_yaml, user

from bot import events as ev
from bot.constants import ACTION_DEFAULT_FALLBACK_NAME, ACTION_LISTEN_NAME
from bot.domain import Domain
from policies.ensemble import DEFAULT_POLICIES_CONFIG, PolicyEnsemble, find_contradictions
from policies.memoization import AugmentedMemoizationPolicy, MemoizationPolicy
from policies.ml_policy import KefuMLPolicy
from policies.policy import PolicyError, Prediction
from policies.rule import RulePolicy

FAST_TED = {"name": "TEDPolicy", "max_history": 4, "epochs": 30}


@pytest.fixture(scope="module")
def ensemble_and_domain():
    from policy_support import SHOP_DOMAIN, SHOP_RULES, domain_from_yaml

    domain = domain_from_yaml(SHOP_DOMAIN)
    data = story_data_from_yaml(SHOP_RULES).merge(story_data_from_yaml(SHOP_STORIES))
    config = [{"name": "MemoizationPolicy", "max_history": 4, "_pos": (3, 5)},
              {"name": "RulePolicy", "core_fallback_threshold": 0.4}, FAST_TED]
    return PolicyEnsemble.from_config(config, domain).learn(data, domain), domain


def test_rasa_names_map_to_kefu_policies(caplog):
    caplog.set_level(logging.INFO, logger="policies.ensemble")
    ensemble = PolicyEnsemble.from_config([
        {"name": "AugmentedMemoizationPolicy", "max_history": 3},
        {"name": "UnexpecTEDIntentPolicy", "max_history": 5, "epochs": 100},
        {"name": "TEDPolicy", "max_history": 7, "epochs": 12, "constrain_similarities": True, "random_seed": 9,
         "batch_size": [64, 256], "_pos": (9, 5)},
        {"name": "RulePolicy", "core_fallback_threshold": 0.4, "enable_fallback_prediction": True},
    ])
    augmented, ml, rule = ensemble.policies
    assert isinstance(augmented, AugmentedMemoizationPolicy) and augmented.max_history == 3
    assert isinstance(ml, KefuMLPolicy) and (ml.max_history, ml.epochs, ml.seed, ml.batch_size) == (7, 12, 9, 64)
    assert isinstance(rule, RulePolicy) and ensemble.core_fallback_threshold == 0.4
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert sum("UnexpecTEDIntentPolicy is skipped" in m for m in messages) == 1
    assert sum("TEDPolicy is served by Kefu's KefuMLPolicy" in m for m in messages) == 1


def test_unknown_and_removed_policies_are_named():
    with pytest.raises(PolicyError, match="unknown policy 'FancyPolicy'"):
        PolicyEnsemble.from_config([{"name": "FancyPolicy"}])
    with pytest.raises(PolicyError, match="'FormPolicy' was removed .* use RulePolicy"):
        PolicyEnsemble.from_config([{"name": "FormPolicy"}])
    with pytest.raises(PolicyError, match="RulePolicy is configured more than once"):
        PolicyEnsemble.from_config([{"name": "RulePolicy"}, {"name": "RulePolicy"}])


def test_empty_config_gets_rasa_defaults():
    names = [p.name for p in PolicyEnsemble.from_config([]).policies]
    assert names == ["MemoizationPolicy", "RulePolicy", "KefuMLPolicy"]
    assert len(DEFAULT_POLICIES_CONFIG) == 4


def test_priorities_break_ties():
    ensemble = PolicyEnsemble([MemoizationPolicy()])
    domain = Domain(actions=["a", "b"])
    names = domain.action_names
    rule = Prediction.from_probabilities([1.0 if n == "a" else 0.0 for n in names], names, "RulePolicy", 4)
    memo = Prediction.from_probabilities([1.0 if n == "b" else 0.0 for n in names], names, "MemoizationPolicy", 3)
    ml = Prediction.from_probabilities([0.9 if n == "b" else 0.0 for n in names], names, "KefuMLPolicy", 1)
    events = [listen(), user("x")]
    assert ensemble.combine_predictions([memo, rule, ml], events, domain).policy_name == "RulePolicy"
    best = ensemble.combine_predictions([memo, ml], events, domain)
    assert (best.policy_name, best.action_name) == ("MemoizationPolicy", "b")
    assert [v.policy_name for v in best.votes] == ["MemoizationPolicy", "KefuMLPolicy"]


def test_rules_memoization_and_ml_together(ensemble_and_domain):
    ensemble, domain = ensemble_and_domain
    start = ensemble.predict(session_start() + [user("greet")], domain)
    assert (start.action_name, start.policy_name) == ("utter_greet", "RulePolicy")
    assert {v.policy_name for v in start.votes} == {"RulePolicy"}  # a certain rule: nobody else could win
    ensemble.all_votes = True
    try:
        start = ensemble.predict(session_start() + [user("greet")], domain)
    finally:
        ensemble.all_votes = False
    assert (start.action_name, start.policy_name) == ("utter_greet", "RulePolicy")
    assert {v.policy_name for v in start.votes} == {"RulePolicy", "MemoizationPolicy", "KefuMLPolicy"}
    angry = [listen(), user("complain", [{"entity": "order_id", "value": "B7"}]),
             ev.SlotSet("sentiment", "angry", timestamp=0.0), action("utter_sorry")]
    memo = ensemble.predict(angry, domain)
    assert (memo.action_name, memo.policy_name) == ("utter_calm_down", "MemoizationPolicy")


def test_form_happy_path_beats_the_others(ensemble_and_domain):
    ensemble, domain = ensemble_and_domain
    events = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
              listen(), user("bot_challenge")]
    prediction = ensemble.predict(events, domain)
    assert (prediction.action_name, prediction.policy_name, prediction.is_no_user_prediction) == (
        "order_form", "RulePolicy", True)
    rejected = ensemble.predict(events + [ev.ActionExecutionRejected("order_form", timestamp=0.0)], domain)
    assert rejected.action_name == "utter_iamabot"


def test_core_fallback_when_nobody_is_sure(ensemble_and_domain):
    ensemble, domain = ensemble_and_domain
    events = [listen(), user("goodbye"), action("utter_goodbye"), listen(), user("human"), action("utter_iamabot"),
              listen(), user("deny")]
    prediction = ensemble.predict(events, domain)
    assert (prediction.action_name, prediction.policy_name) == (ACTION_DEFAULT_FALLBACK_NAME, "RulePolicy")
    assert prediction.confidence == pytest.approx(0.4)


def test_without_rule_policy_the_ensemble_applies_the_threshold(ensemble_and_domain):
    _, domain = ensemble_and_domain
    ensemble = PolicyEnsemble([MemoizationPolicy()])
    prediction = ensemble.predict([listen(), user("deny")], domain)
    assert prediction.action_name == ACTION_DEFAULT_FALLBACK_NAME and prediction.policy_name == "PolicyEnsemble"


def test_never_listen_right_after_the_user_spoke(ensemble_and_domain):
    _, domain = ensemble_and_domain
    names = domain.action_names
    listening = Prediction.from_probabilities([0.8 if n == ACTION_LISTEN_NAME else (0.2 if n == "utter_greet" else 0.0)
                                               for n in names], names, "KefuMLPolicy", 1)
    ensemble = PolicyEnsemble([MemoizationPolicy()])
    best = ensemble.combine_predictions([listening], [listen(), user("greet")], domain)
    assert best.action_name == ACTION_DEFAULT_FALLBACK_NAME  # 0.2 < 0.3 once action_listen is excluded
    assert best.votes[0].probabilities[names.index(ACTION_LISTEN_NAME)] == 0.0


def test_save_load_round_trip(ensemble_and_domain, tmp_path):
    ensemble, domain = ensemble_and_domain
    ensemble.save(tmp_path / "core")
    loaded = PolicyEnsemble.load(tmp_path / "core")
    assert [p.name for p in loaded.policies] == [p.name for p in ensemble.policies]
    conversations = [
        session_start() + [user("greet")],
        [listen(), user("complain"), ev.SlotSet("sentiment", "negative", timestamp=0.0), action("utter_sorry")],
        [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0)],
        [listen(), user("deny")],
    ]
    for events in conversations:
        a, b = ensemble.predict(events, domain), loaded.predict(events, domain)
        assert (a.action_name, a.policy_name, a.probabilities) == (b.action_name, b.policy_name, b.probabilities)
    with pytest.raises(PolicyError, match="ensemble.json"):
        PolicyEnsemble.load(tmp_path)


def test_find_contradictions(shop_domain):
    data = story_data_from_yaml("""
    rules:
    - rule: just say sorry
      steps: [{intent: complain}, {action: utter_sorry}]
    stories:
    - story: a
      steps: [{intent: thank}, {action: utter_welcome}]
    - story: b
      steps: [{intent: thank}, {action: utter_goodbye}]
    """).merge(story_data_from_yaml(SHOP_STORIES))
    found = find_contradictions(data, shop_domain)
    messages = [c.message for c in found]
    assert any("in story 'calm complaint' is contradicting with rule(s) 'just say sorry'" in m for m in messages)
    assert any("story 'b' continues with 'utter_goodbye' where story 'a' continues with 'utter_welcome'" in m
               for m in messages)
    assert all(c.source_a is not None and c.source_b is not None for c in found)
    assert find_contradictions(story_data_from_yaml(SHOP_STORIES), shop_domain) == []


def test_policies_import_no_server_code():
    code = (
        "import sys, policies, policies.ensemble, policies.ml_policy, policies.evaluation, policies.featurizer\n"
        "bad = [m for m in ('aiohttp', 'nlu', 'simulator', 'actions', 'bot.cli', 'bot.project') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_certain_higher_priority_policy_spares_the_ml_policy_without_changing_any_prediction(ensemble_and_domain):
    """Skipping a policy that could at best tie is exact: same action, confidence, policy and events
    as asking every policy, on every prefix of every training story."""
    from policy_support import SHOP_RULES

    from policies.story_graph import generate_trackers

    ensemble, domain = ensemble_and_domain
    ml = next(p for p in ensemble.policies if isinstance(p, KefuMLPolicy))
    calls = []
    original = ml.predict

    def counting_predict(events, domain_):
        calls.append(1)
        return original(events, domain_)

    ml.predict = counting_predict
    data = story_data_from_yaml(SHOP_RULES).merge(story_data_from_yaml(SHOP_STORIES))
    checked = 0
    try:
        for tracker in generate_trackers(data, domain):
            events = list(tracker.events)
            for end in range(1, len(events) + 1):
                prefix = events[:end]
                if prefix[-1].get("event") not in (ev.USER, ev.ACTION):
                    continue
                fast = ensemble.predict(prefix, domain)
                full = ensemble.combine_predictions([p.predict(prefix, domain) for p in ensemble.policies], prefix, domain)
                assert (fast.action_name, fast.policy_name, fast.events) == (full.action_name, full.policy_name, full.events)
                assert fast.confidence == pytest.approx(full.confidence)
                checked += 1
    finally:
        del ml.predict
    asked_by_fast = len(calls) - checked  # every full evaluation asks the ML policy once
    assert checked > 50 and asked_by_fast < checked / 2, (checked, asked_by_fast)
