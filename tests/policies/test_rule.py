"""RulePolicy: conversation_start, conditions, snippets, loops (forms), default actions, fallback, checks."""

from __future__ import annotations

import pytest
from policy_support import (
    SHOP_STORIES,
    action,
    domain_from_yaml,
    listen,
    session_start,
    story_data_from_yaml,
    user,
)

from bot import events as ev
from bot.constants import ACTION_DEFAULT_FALLBACK_NAME, ACTION_LISTEN_NAME
from policies.policy import InvalidRuleError, PolicyError
from policies.rule import RulePolicy
from policies.story_graph import generate_trackers


@pytest.fixture
def rules(shop_domain, shop_trackers) -> RulePolicy:
    return RulePolicy().learn(shop_trackers, shop_domain)


def _predict(policy, events, domain):
    return policy.predict(events, domain)


def test_conversation_start_rule_applies_only_at_the_start(rules, shop_domain):
    start = _predict(rules, session_start() + [user("greet")], shop_domain)
    assert (start.action_name, start.confidence, start.policy_name) == ("utter_greet", 1.0, "RulePolicy")
    later = session_start() + [user("thank"), action("utter_welcome"), listen(), user("greet")]
    assert _predict(rules, later, shop_domain).action_name == ACTION_DEFAULT_FALLBACK_NAME


def test_condition_on_a_slot(rules, shop_domain):
    later = [listen(), user("thank"), action("utter_welcome"), listen(), ev.SlotSet("vip", True, timestamp=0.0),
             user("greet")]
    assert _predict(rules, later, shop_domain).action_name == "utter_vip_greet"
    not_vip = later[:4] + [ev.SlotSet("vip", False, timestamp=0.0), user("greet")]
    assert _predict(rules, not_vip, shop_domain).action_name == ACTION_DEFAULT_FALLBACK_NAME


def test_rule_without_conversation_start_applies_anywhere_and_waits(rules, shop_domain):
    events = [listen(), user("greet"), action("utter_greet"), listen(), user("bot_challenge")]
    assert _predict(rules, events, shop_domain).action_name == "utter_iamabot"
    events.append(action("utter_iamabot"))
    assert _predict(rules, events, shop_domain).action_name == ACTION_LISTEN_NAME


def test_wait_for_user_input_false_leaves_the_next_action_open(rules, shop_domain):
    events = [listen(), user("complain"), action("utter_sorry")]
    prediction = _predict(rules, events, shop_domain)
    assert prediction.action_name == ACTION_DEFAULT_FALLBACK_NAME
    assert prediction.confidence == pytest.approx(rules.core_fallback_threshold)


def test_form_happy_path(rules, shop_domain):
    events = session_start() + [user("track_order")]
    assert _predict(rules, events, shop_domain).action_name == "order_form"
    events += [action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
               ev.SlotSet("requested_slot", "order_id", timestamp=0.0)]
    after_form = _predict(rules, events, shop_domain)
    assert after_form.action_name == ACTION_LISTEN_NAME and after_form.is_no_user_prediction
    events += [listen(), user("inform", [{"entity": "order_id", "value": "A1"}])]
    again = _predict(rules, events, shop_domain)
    assert again.action_name == "order_form" and again.is_no_user_prediction
    events += [action("order_form"), ev.ActiveLoop(None, timestamp=0.0)]
    assert _predict(rules, events, shop_domain).action_name == "action_check_order"
    events.append(action("action_check_order"))
    assert _predict(rules, events, shop_domain).action_name == ACTION_LISTEN_NAME


def test_form_unhappy_path_rule_then_back_to_the_form(rules, shop_domain):
    events = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
              listen(), user("bot_challenge")]
    assert _predict(rules, events, shop_domain).action_name == "order_form"  # the loop comes first
    events.append(ev.ActionExecutionRejected("order_form", timestamp=0.0))
    assert _predict(rules, events, shop_domain).action_name == "utter_iamabot"
    events.append(action("utter_iamabot"))
    # the general rule would listen; inside the loop RulePolicy goes back to the form instead
    assert _predict(rules, events, shop_domain).action_name == "order_form"


def test_unhappy_rule_with_loop_condition(rules, shop_domain):
    events = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
              listen(), user("chitchat"), ev.ActionExecutionRejected("order_form", timestamp=0.0)]
    assert _predict(rules, events, shop_domain).action_name == "utter_chitchat"
    outside = [listen(), user("chitchat")]
    assert _predict(rules, outside, shop_domain).action_name == ACTION_DEFAULT_FALLBACK_NAME


def test_returning_from_an_unhappy_path_notifies_the_loop(shop_domain):
    data = story_data_from_yaml("""
    rules:
    - rule: activate
      steps: [{intent: track_order}, {action: order_form}, {active_loop: order_form}]
    stories:
    - story: explain, then the form goes on
      steps:
      - intent: track_order
      - action: order_form
      - active_loop: order_form
      - intent: chitchat
      - action: utter_chitchat
      - intent: inform
      - action: order_form
    """)
    policy = RulePolicy().learn(generate_trackers(data, shop_domain), shop_domain)
    events = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
              listen(), user("chitchat"), ev.ActionExecutionRejected("order_form", timestamp=0.0),
              action("utter_chitchat"), listen(), user("inform")]
    prediction = _predict(policy, events, shop_domain)
    assert [e["event"] for e in prediction.events] == [ev.LOOP_INTERRUPTED]
    assert prediction.events[0]["is_interrupted"] is True


def test_default_actions_overrule_rules(rules, shop_domain):
    assert _predict(rules, [listen(), user("restart")], shop_domain).action_name == "action_restart"
    assert _predict(rules, [listen(), user("session_start")], shop_domain).action_name == "action_session_start"


def test_fallback_prediction_settings(shop_domain, shop_trackers):
    events = [listen(), user("goodbye"), action("utter_goodbye"), listen(), user("deny")]
    policy = RulePolicy(core_fallback_threshold=0.45, core_fallback_action_name="utter_default").learn(
        shop_trackers, shop_domain)
    prediction = _predict(policy, events, shop_domain)
    assert (prediction.action_name, prediction.confidence) == ("utter_default", 0.45)
    silent = RulePolicy(enable_fallback_prediction=False).learn(shop_trackers, shop_domain)
    assert _predict(silent, events, shop_domain).action_name is None
    with pytest.raises(PolicyError, match="action_nope"):
        RulePolicy(core_fallback_action_name="action_nope").learn(shop_trackers, shop_domain)


def test_restrict_rules(shop_domain):
    data = story_data_from_yaml("""
    rules:
    - rule: a state machine
      steps: [{intent: greet}, {action: utter_greet}, {intent: thank}, {action: utter_welcome}]
    """)
    trackers = generate_trackers(data, shop_domain)
    with pytest.raises(InvalidRuleError, match="a state machine"):
        RulePolicy().learn(trackers, shop_domain)
    relaxed = RulePolicy(restrict_rules=False).learn(trackers, shop_domain)
    events = [listen(), user("greet"), action("utter_greet"), listen(), user("thank")]
    assert _predict(relaxed, events, shop_domain).action_name == "utter_welcome"


def test_contradicting_rule_and_story(shop_domain):
    data = story_data_from_yaml("""
    rules:
    - rule: just say sorry
      steps: [{intent: complain}, {action: utter_sorry}]
    """).merge(story_data_from_yaml(SHOP_STORIES))
    trackers = generate_trackers(data, shop_domain)
    with pytest.raises(InvalidRuleError) as error:
        RulePolicy().learn(trackers, shop_domain)
    message = str(error.value)
    assert "'utter_calm_down' in story 'angry complaint goes to a human'" in message
    assert "rule(s) 'just say sorry' which predicted action 'action_listen'" in message
    unchecked = RulePolicy(check_for_contradictions=False).learn(trackers, shop_domain)
    assert {c.message.split(" in story ")[0] for c in unchecked.contradictions} == {
        "the prediction of the action 'utter_calm_down'", "the prediction of the action 'utter_offer_human'"}
    first = unchecked.contradictions[0]
    assert first.source_a is not None and first.source_b is not None


def test_contradicting_rules(shop_domain):
    data = story_data_from_yaml("""
    rules:
    - rule: one
      steps: [{intent: thank}, {action: utter_welcome}]
    - rule: two
      steps: [{intent: thank}, {action: utter_goodbye}]
    """)
    with pytest.raises(InvalidRuleError, match="contradicting"):
        RulePolicy().learn(generate_trackers(data, shop_domain), shop_domain)


def test_domain_without_the_slot_still_predicts():
    domain = domain_from_yaml("""
    intents: [greet]
    responses: {utter_greet: [{text: hi}]}
    """)
    data = story_data_from_yaml("""
    rules:
    - rule: greet
      steps: [{intent: greet}, {action: utter_greet}]
    """)
    policy = RulePolicy().learn(generate_trackers(data, domain), domain)
    assert policy.predict([listen(), user("greet")], domain).action_name == "utter_greet"


def test_save_and_load_round_trip(rules, shop_domain, shop_trackers, tmp_path):
    again = RulePolicy().learn(shop_trackers, shop_domain)
    assert (again.rules, again.unhappy_rules) == (rules.rules, rules.unhappy_rules)
    rules.save(tmp_path / "rule")
    loaded = RulePolicy.load(tmp_path / "rule")
    assert loaded.core_fallback_threshold == rules.core_fallback_threshold
    conversations = [
        session_start() + [user("greet")],
        [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
         listen(), user("bot_challenge"), ev.ActionExecutionRejected("order_form", timestamp=0.0),
         action("utter_iamabot")],
        [listen(), user("deny")],
    ]
    for events in conversations:
        assert loaded.predict(events, shop_domain).probabilities == rules.predict(events, shop_domain).probabilities
    with pytest.raises(PolicyError, match="not a MemoizationPolicy"):
        from policies.memoization import MemoizationPolicy

        MemoizationPolicy.load(tmp_path / "rule")


def _possible_keys_by_brute_force(policy: RulePolicy, lookup: dict[str, str], states) -> set[str]:
    """Every key checked against every state (what the index must agree with)."""
    possible = set(lookup)
    for index, state in enumerate(reversed(states)):
        possible = {key for key in possible if policy._is_rule_applicable(key, index, state)}
    return possible


def test_the_last_action_index_finds_exactly_the_keys_a_full_scan_finds(rules, shop_domain, shop_trackers):
    """Rules are looked up through an index on the action their last state follows; at every step of
    every training conversation (rules, stories, loop unhappy paths) it must agree with a full scan."""
    from policies.state import tracker_states

    checked = matched = 0
    for tracker in shop_trackers:
        for end in range(1, len(tracker.events) + 1):
            states = tracker_states(tracker.events[:end], shop_domain)
            for lookup in (rules.rules, rules.unhappy_rules):
                found = rules._get_possible_keys(lookup, states)
                assert found == _possible_keys_by_brute_force(rules, lookup, states)
                checked += 1
                matched += bool(found)
    assert checked > 150 and matched > 20  # the comparison ran over real hits, not only empty sets
    grouped = rules._keys_by_last_action(rules.rules)
    assert sum(map(len, grouped.values())) == len(rules.rules) and len(grouped) > 2
