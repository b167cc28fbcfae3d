"""Shared test support for the dialogue engine: a small shop domain, a scripted policy, a real action server.

Imported by the ``test_*`` files of this folder (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import events as ev
from bot.agent import Agent
from bot.constants import ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.nlg import TemplatedNLG

HERE = Path(__file__).resolve().parent

SHOP_DOMAIN: dict[str, Any] = {
    "intents": ["greet", "track_order", "inform", "bot_challenge", "human_agent", "complaint", "affirm", "deny",
                "out_of_scope", "boom", "slow", "reject_me", "pause_me", "where_domain"],
    "entities": ["order_id", "email", {"city": {"roles": ["from", "to"]}}],
    "slots": {
        "order_id": {"type": "text", "mappings": [{"type": "from_entity", "entity": "order_id"}]},
        "email": {"type": "text", "mappings": [{"type": "from_entity", "entity": "email"}]},
        "order_status": {"type": "text", "mappings": [{"type": "custom"}]},
        "sentiment": {"type": "categorical", "values": ["positive", "neutral", "negative", "angry", "anxious"],
                      "mappings": [{"type": "custom"}]},
        "got_domain": {"type": "any", "mappings": [{"type": "custom"}]},
    },
    "responses": {
        "utter_greet": [{"text": "Hi! How can I help?"}],
        "utter_ask_order_id": [
            {"text": "I'm so sorry. What's your order number?", "condition": [{"type": "slot", "name": "sentiment", "value": "angry"}]},
            {"text": "What's your order number?"},
        ],
        "utter_ask_email": [{"text": "Which email did you use?"}],
        "utter_status": [{"text": "Order {order_id}: {order_status}"}],
        "utter_iamabot": [{"text": "I'm a bot."}],
        "utter_default": [{"text": "Sorry, I didn't get that."}],
        "utter_ask_rephrase": [{"text": "Could you rephrase?"}],
        "utter_handoff": [{"text": "Connecting you to a human."}],
    },
    "actions": ["action_check_order", "action_boom", "action_slow", "action_reject", "action_pause_me",
                "action_where_domain", "validate_track_form"],
    "forms": {"track_form": {"required_slots": ["order_id", "email"], "ignored_intents": ["greet"]}},
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
}


def shop_domain(**changes: Any) -> Domain:
    data = {**SHOP_DOMAIN, **changes}
    return Domain.from_dict(data)


@dataclass
class ScriptedPolicy:
    """A tiny stand-in for the policy ensemble.

    :param after_intent: intent → actions to run after it (then ``action_listen``)
    :param after_loop: loop → actions to run once it completes
    """

    after_intent: dict[str, list[str]] = field(default_factory=dict)
    after_loop: dict[str, list[str]] = field(default_factory=dict)
    name: str = "ScriptedPolicy"

    def predict(self, tracker: Any, domain: Domain) -> Any:
        events = tracker.events
        start = max((i for i, e in enumerate(events) if e.get("event") == ev.USER), default=-1)
        turn = events[start + 1:]
        done = [e["name"] for e in turn if e.get("event") == ev.ACTION]
        rejected = any(e.get("event") == ev.ACTION_EXECUTION_REJECTED for e in turn)
        loop = tracker.active_loop_name
        intent = tracker.latest_intent
        if loop and not rejected and not done:
            plan = [loop]
        elif done and done[-1] in self.after_loop and not loop:
            plan = done + self.after_loop[done[-1]]
        else:
            plan = list(self.after_intent.get(intent, []))
            if loop and rejected:
                plan.append(loop)
        name = plan[len(done)] if len(done) < len(plan) else ACTION_LISTEN_NAME
        return _Prediction(name, self.name)


@dataclass
class _Prediction:
    action_name: str
    policy_name: str
    confidence: float = 1.0
    events: list[dict[str, Any]] = field(default_factory=list)
    optional_events: list[dict[str, Any]] = field(default_factory=list)


SHOP_SCRIPT = ScriptedPolicy(
    after_intent={
        "greet": ["utter_greet"],
        "track_order": ["track_form"],
        "bot_challenge": ["utter_iamabot"],
        "human_agent": ["action_kefu_handoff"],
        "boom": ["action_boom"],
        "slow": ["action_slow"],
        "reject_me": ["action_reject"],
        "pause_me": ["action_pause_me"],
        "where_domain": ["action_where_domain"],
        "nlu_fallback": ["action_default_fallback"],
    },
    after_loop={"track_form": ["action_check_order"]},
)


def shop_agent(policy: Any = SHOP_SCRIPT, seed: int = 7, **domain_changes: Any) -> Agent:
    domain = shop_domain(**domain_changes)
    return Agent(domain=domain, policy=policy, nlg=TemplatedNLG(domain.responses, seed=seed))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_action_server(timeout: float = 30.0) -> Iterator[str]:
    """A real rasa-sdk action server serving ``fixture_actions`` on 127.0.0.1; yields its webhook URL."""
    port = free_port()
    env = {**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "fixture_actions", "--port", str(port), "--quiet"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(f"action server exited: {process.stderr.read().decode()[-2000:]}") from None  # type: ignore[union-attr]
                if time.monotonic() > deadline:
                    raise RuntimeError("action server did not start in time") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
