"""Assistants as ``kefu run`` serves them, driven by simulated shoppers: what a support lead compares.

A :class:`ServedAgent` chooses each bot action exactly as the live processor does
(``MessageProcessor.predict_next_action``: a pending followup action first, else the whole policy ensemble with
its rules, memoization and fallback), applies the events a prediction carries, and plays in an env built with
``masks="served"`` (no simulator masks: the served bot runs whatever it predicts). Where it comes from:

- a trained model folder or ``.tar.gz`` (``models/<current>``: the assistant in production);
- the Rasa-style ensemble of a project, trained here on its stories from ``config.yml``'s policies with any
  ``rl:`` stage removed (Rules + Memoization + TED: what a Rasa user ships).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from bot.agent import Agent as BotAgent

SERVED_MASKS = "served"


class ServedAgent:
    """Plays the bot as a served model does (see the module docstring).

    :param agent: the model (``bot.agent.Agent``: domain and policy ensemble; its NLU is not used, the env's user
        channel stands for it)
    :param name: how reports call it
    """

    masks = SERVED_MASKS

    def __init__(self, agent: BotAgent, name: str) -> None:
        self.agent = agent
        self.name = name

    @classmethod
    def from_model(cls, path: str | Path, name: str | None = None) -> ServedAgent:
        """The dialogue model of a trained model folder or archive."""
        from bot.model_archive import load_model

        return cls(load_model(path, load_nlu=False), name or Path(path).name)

    @classmethod
    def rasa_style(cls, project: Any, name: str = "rasa_style", seed: int = 42) -> ServedAgent:
        """The project's ensemble trained on its stories, every ``rl:`` stage removed."""
        from policies import PolicyEnsemble

        config = [{k: v for k, v in item.items() if k != "rl"} for item in copy.deepcopy(project.config.policies)]
        ensemble = PolicyEnsemble.from_config(config, project.domain, seed=seed)
        ensemble.learn(project.training.stories, project.domain)
        return cls(BotAgent(domain=project.domain, policy=ensemble), name)

    def act(self, env: Any, obs: np.ndarray) -> int:
        """The action the served processor would run next on the env's conversation."""
        next_action = env.engine.processor.predict_next_action(env.tracker, self.agent)
        for event in next_action.events:
            env.tracker.update(event)
        index = env.action_index.get(next_action.name)
        if index is None:
            raise ValueError(f"{self.name} predicts '{next_action.name}', which the simulated shop's domain lacks "
                             "(was the model trained on another domain?)")
        return index
