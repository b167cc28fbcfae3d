"""The simulated shopper, the NLU error model, the text renderer and the task catalog."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot.errors import UserFileError
from simulator.channel import SemanticChannel, TextRenderer
from simulator.config import Persona, parse_simulator_config
from simulator.outcomes import Outcome
from simulator.user import AgendaUser, BotAct, UserAct


def _goal(world, **changes):
    goal = next(g for g in world.goals.goals if g.achievable and not g.decoy_intent)
    return replace(goal, **changes)


def test_task_catalog_comes_from_the_demo_stories(demo_world):
    tasks = demo_world.catalog.tasks
    assert tasks["return_item"].form == "return_form"
    assert tasks["return_item"].action == "action_start_return"
    assert tasks["return_item"].required_slots == ("order_id", "email", "return_reason")
    assert tasks["cancel_order"].confirm_slots == ("confirm_cancel",)
    assert tasks["refund_status"].form == "refund_form" and tasks["refund_status"].action == "action_refund_status"
    assert tasks["refund_status"].required_slots == ("order_id", "email")
    assert tasks["complaint"].requires_human and tasks["complaint"].action == "action_handoff"
    assert "inform" not in tasks and "affirm" not in tasks


def test_goal_pool_is_seeded_split_and_has_an_upper_bound(demo_world):
    pool = demo_world.goals
    assert len(pool.train) + len(pool.test) == len(pool.goals)
    assert {g.goal_id for g in pool.train}.isdisjoint({g.goal_id for g in pool.test})
    assert 0.5 < pool.achievable_rate("test") < 1.0
    unachievable = next(g for g in pool.goals if not g.achievable)
    assert not demo_world.shop.run(unachievable.task.action, unachievable.values).ok


def test_user_answers_a_question_with_the_true_value(tiny_world):
    goal = _goal(tiny_world, upfront=())
    user = AgendaUser(goal, np.random.default_rng(0))
    first = user.first_act()
    assert first.intent in ("greet", "return_item")
    act = user.respond([BotAct("return_form", asked="email")])
    assert act.intent == "inform" and act.slots == {"email": goal.values["email"]}


def test_repeated_questions_lower_the_mood_until_the_shopper_gives_up(tiny_world):
    goal = _goal(tiny_world, persona=Persona(patience=2, mood=0.8, p_ask_human=1.0, p_greet=0.0))
    user = AgendaUser(goal, np.random.default_rng(0))
    user.first_act()
    moods, acts = [], []
    for _ in range(8):
        acts.append(user.respond([BotAct("utter_ask_order_id", asked="order_id")]))
        moods.append(user.mood)
        if acts[-1].intent == "human_agent":
            break
    assert moods[0] == pytest.approx(0.8)  # the first question is fine
    assert moods[-1] < moods[1] < moods[0]
    assert acts[-1].intent == "human_agent"
    assert user.sentiment in ("negative", "angry", "neutral")


def test_a_wrong_value_in_a_result_gets_corrected(tiny_world):
    goal = _goal(tiny_world)
    user = AgendaUser(goal, np.random.default_rng(0))
    user.first_act()
    wrong = {"order_id": "A99999", "email": goal.values["email"]}
    act = user.respond([BotAct("action_start_return", outcome=Outcome(False, "not_found"), used=wrong)])
    assert act.intent == "inform" and act.slots == {"order_id": goal.values["order_id"]}
    right = dict(goal.values)
    done = user.respond([BotAct("action_start_return", outcome=Outcome(True), used=right)])
    assert user.done and done.intent == "goodbye"


def test_a_refusal_with_the_true_values_makes_the_shopper_ask_for_a_human(tiny_world):
    goal = _goal(tiny_world, persona=Persona(p_ask_human=1.0, p_greet=0.0))
    user = AgendaUser(goal, np.random.default_rng(0))
    user.first_act()
    act = user.respond([BotAct("action_start_return", outcome=Outcome(False, "refused:x"),
                               used=dict(goal.values))])
    assert act.intent == "human_agent" and user.failed_for_real


def test_a_shopper_who_changes_their_mind_switches_request(tiny_world):
    goal = _goal(tiny_world, decoy_intent="greet", upfront=("order_id",), persona=Persona(p_greet=0.0))
    user = AgendaUser(goal, np.random.default_rng(0))
    assert user.first_act().intent == "greet"
    act = user.respond([BotAct("utter_greet")])
    assert act.intent == "return_item" and act.slots == {"order_id": goal.values["order_id"]}


def test_semantic_channel_error_rates_and_modes(demo_world):
    domain, pools = demo_world.domain, demo_world.goals.values.pools
    act = UserAct("inform", {"order_id": "A10001", "email": "ann@example.com"})
    rng = np.random.default_rng(0)
    clean = SemanticChannel(domain, pools).parse(act, rng)
    assert clean["intent"]["name"] == "inform"
    assert {e["entity"]: e["value"] for e in clean["entities"]} == act.slots
    always = SemanticChannel(domain, pools, intent_error=1.0)
    assert all(always.parse(act, rng)["intent"]["name"] != "inform" for _ in range(50))
    assert SemanticChannel(domain, pools, slot_error=1.0, slot_error_mode="delete").parse(act, rng)["entities"] == []
    values = SemanticChannel(domain, pools, slot_error=1.0, slot_error_mode="value").parse(act, rng)["entities"]
    assert {e["entity"] for e in values} == {"order_id", "email"}
    assert all(e["value"] != act.slots[e["entity"]] for e in values)
    swapped = SemanticChannel(domain, pools, slot_error=1.0, slot_error_mode="swap").parse(act, rng)["entities"]
    assert all(e["entity"] not in ("order_id", "email") or e["value"] != act.slots[e["entity"]] for e in swapped)
    tenth = SemanticChannel(domain, pools, intent_error=0.1, slot_error=0.1)
    parses = [tenth.parse(act, rng) for _ in range(3000)]
    intent_rate = np.mean([p["intent"]["name"] != "inform" for p in parses])
    assert 0.08 < intent_rate < 0.12
    intact = np.mean([{e["entity"]: e["value"] for e in p["entities"]} == act.slots for p in parses])
    assert 0.76 < intact < 0.86  # 0.9 ** 2


def test_text_renderer_fills_values_and_writes_angrier_when_angry(demo_world):
    renderer = TextRenderer(demo_world.nlu.examples, demo_world.domain)
    rng = np.random.default_rng(1)
    calm = renderer.render(UserAct("inform", {"order_id": "A55555"}, sentiment="neutral"), rng)
    assert "A55555" in calm
    angry = [renderer.render(UserAct("return_item", {}, sentiment="angry"), rng) for _ in range(5)]
    assert all(any(w in t for w in ("!", "Seriously", "ridiculous", "patience", "Ugh", "last time")) for t in angry)
    address = renderer.render(UserAct("inform", {"new_address": "7 Rue de la Paix, Paris"}), rng)
    assert "7 Rue de la Paix" in address


def test_simulator_config_errors_name_the_line():
    from bot.yaml_reader import load_yaml

    with pytest.raises(UserFileError) as bad:
        parse_simulator_config(load_yaml("simulator.yml", text="max_turns: 10\npersonas:\n  - {name: x, patiance: 3}\n"))
    assert bad.value.line == 3 and "patiance" in bad.value.message
    with pytest.raises(UserFileError, match="between"):
        parse_simulator_config(load_yaml("simulator.yml", text="p_invalid_order_id: 2\n"))


def test_not_understood_request_is_rephrased_with_one_more_detail(tiny_world):
    goal = _goal(tiny_world, upfront=(), persona=Persona(p_greet=0.0, p_interrupt=0.0))
    user = AgendaUser(goal, np.random.default_rng(0))
    assert user.first_act().slots == {}
    seen = []
    for _ in range(2):
        again = user.respond([BotAct("utter_default")])
        assert again.intent == goal.task.intent
        seen.append(dict(again.slots))
    assert {"order_id": goal.values["order_id"]} in seen or {} in seen
    assert all(len(s) <= i + 1 for i, s in enumerate(seen))  # at most one more detail each time
    assert user.mood < goal.persona.mood and user.bad_turns == 2
