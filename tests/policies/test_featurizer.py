"""The tracker featurizer: fixed-size float32 observations the ML policy and the simulator env share."""

from __future__ import annotations

import numpy as np
from policy_support import action, domain_from_yaml, listen, user

from bot import events as ev
from bot.tracker import DialogueStateTracker
from policies.featurizer import TrackerFeaturizer


def _turns(featurizer: TrackerFeaturizer, observation: np.ndarray) -> list[list[str]]:
    return featurizer.describe(observation)


def test_shape_bounds_and_space(shop_domain):
    featurizer = TrackerFeaturizer(shop_domain, max_history=3)
    tracker = DialogueStateTracker.from_domain("u1", shop_domain, [listen(), user("greet")])
    obs = featurizer.featurize(tracker)
    assert obs.dtype == np.float32 and obs.shape == (featurizer.observation_size,)
    assert featurizer.observation_size == 3 * featurizer.turn_size
    assert featurizer.observation_space.contains(obs)
    assert ((obs == 0) | (obs == 1)).all()
    assert np.array_equal(featurizer.featurize([listen(), user("greet")], shop_domain), obs)


def test_turn_vectors_stack_oldest_first_and_user_only_after_listen(shop_domain):
    featurizer = TrackerFeaturizer(shop_domain, max_history=3)
    events = [listen(), user("complain", [{"entity": "order_id", "value": "A1"}]),
              ev.SlotSet("sentiment", "angry", timestamp=0.0), action("utter_sorry")]
    turns = _turns(featurizer, featurizer.featurize(events, shop_domain))
    assert turns[0] == []  # the conversation start (and padding) is all zeros
    assert "intent:complain=1" in turns[1] and "entity:order_id=1" in turns[1] and "prev:action_listen=1" in turns[1]
    assert "slot:sentiment[3]=1" in turns[1]  # angry
    # after a bot action the user's message is not featurised again (as Rasa's TED)
    assert "intent:complain=1" not in turns[2] and "prev:utter_sorry=1" in turns[2]


def test_active_loop_and_requested_slot(shop_domain):
    events = [listen(), user("track_order"), action("order_form"), ev.ActiveLoop("order_form", timestamp=0.0),
              ev.SlotSet("requested_slot", "email", timestamp=0.0)]
    plain = TrackerFeaturizer(shop_domain, max_history=2)
    assert not plain.uses_requested_slot
    last = _turns(plain, plain.featurize(events, shop_domain))[-1]
    assert "loop:order_form=1" in last and not any(f.startswith("requested") for f in last)
    with_requested = TrackerFeaturizer(shop_domain, max_history=2, use_requested_slot=True)
    last = _turns(with_requested, with_requested.featurize(events, shop_domain))[-1]
    assert "requested:email=1" in last
    assert with_requested.turn_size == plain.turn_size + 2


def test_requested_slot_follows_the_domain_by_default():
    domain = domain_from_yaml("""
    intents: [inform]
    slots:
      requested_slot: {type: text, influence_conversation: true, mappings: [{type: custom}]}
      a: {type: text, mappings: [{type: custom}]}
    forms: {f: {required_slots: [a]}}
    """)
    assert TrackerFeaturizer(domain).uses_requested_slot


def test_round_trip_without_domain(shop_domain):
    featurizer = TrackerFeaturizer(shop_domain, max_history=4)
    copy = TrackerFeaturizer.from_dict(featurizer.to_dict())
    events = [listen(), user("greet"), action("utter_greet"), listen(), user("bot_challenge")]
    assert np.array_equal(copy.featurize(events, shop_domain), featurizer.featurize(events, shop_domain))
    assert copy.action_names == shop_domain.action_names
