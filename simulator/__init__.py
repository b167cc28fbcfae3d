"""Kefu's user simulator: simulated shoppers, the ``kefu/CustomerService-v0`` Gymnasium env, training
and evaluation of dialogue policies.

Importing the package registers the env (string entry point, so the env module loads lazily)::

    import gymnasium as gym
    import simulator  # noqa: F401
    env = gym.make("kefu/CustomerService-v0", project_root=".", nlu_error=0.1)

``max_episode_steps`` is the default ``max_turns`` (30); pass ``max_episode_steps=`` to ``gym.make``
when a project's ``simulator.yml`` sets another ``max_turns``.

Serving a simulator-trained policy
----------------------------------
``kefu sim train --algo maskable_ppo --warm-start stories --out models/sim`` writes ``models/sim/policy/``:
a :class:`policies.ml_policy.KefuMLPolicy` directory (``params.json``, ``featurizer.json``, ``weights.pt``),
the format ``PolicyEnsemble.save`` writes for each policy and ``PolicyEnsemble.load`` reads. A model
folder whose ``core/`` ensemble holds it is served by ``kefu run -m <folder>`` as is (tests/simulator/
test_served_policy.py does exactly that over the REST webhook). In ``config.yml`` it is named::

    policies:
      - name: RulePolicy
      - name: KefuMLPolicy          # (TEDPolicy maps to it)
        max_history: 5
        hidden_sizes: [128, 128]
        pretrained: models/sim/policy   # the `kefu sim train` output; learn() loads it instead of cloning stories

``pretrained`` is read by ``KefuMLPolicy.learn()``: ``kefu train`` then loads that directory instead of
cloning the stories (the other policies still train as usual), takes its network, featurizer and
architecture (``max_history``, ``hidden_sizes``, ``activation_fn`` from the directory win over the
config's), and saves it into the new model folder, so serving never needs ``models/sim`` again. A
relative path is read from the working directory (the project root). Its action names must be the
domain's, in the domain's order: a missing directory or a policy trained for other actions is a
``PolicyError`` naming the path (retrain with ``kefu sim train`` after changing the domain's actions).
The exported weights already fold in what the simulator's action masks taught, see
:func:`simulator.training.export_policy`.

One engine
----------
The env steps Kefu's live dialogue engine (:mod:`simulator.engine`: the real ``MessageProcessor``, tracker,
``action_extract_slots``, forms, responses and Kefu's automatic handoff); only the choice of the next action is
the agent's. Custom actions are the project's own rasa-sdk classes (``actions/``, or ``actions:`` in
``simulator.yml``) run in process by rasa-sdk's executor, with the action server's protocol
(:mod:`bot.actions.in_process`). The demo shop's actions call its backends in process (:mod:`simulator.shop`,
``backends/simulation.py``: an in-memory order database seeded once, each dialogue in a transaction rolled back
when the next one starts, and the trained recommender), so "already shipped", "return window closed" and
"unknown order" happen for real. What a shopper makes of a reply is read from it: the slot a form or an
``utter_ask_<slot>`` asks for, and whether a custom action's reply is one of ``failure_responses`` in
``simulator.yml``. ``tests/simulator/test_equivalence.py`` replays 200 simulated dialogues through ``kefu run``'s
REST webhook and through the env and finds the same events after every turn.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from simulator.constants import DEFAULT_MAX_TURNS, ENV_ENTRY_POINT, ENV_ID

__all__ = ["ENV_ID", "register_env"]


def register_env() -> None:
    """Register ``kefu/CustomerService-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in registry:
        register(id=ENV_ID, entry_point=ENV_ENTRY_POINT, max_episode_steps=DEFAULT_MAX_TURNS)


register_env()
