"""Names and defaults of the simulator package (UPPER_SNAKE, one place)."""

from __future__ import annotations

ENV_ID = "kefu/CustomerService-v0"
ENV_ENTRY_POINT = "simulator.env:CustomerServiceEnv"
DEFAULT_MAX_TURNS = 30  # bot actions (env steps) per dialogue
DEFAULT_MAX_HISTORY = 5
CONFIG_FILE = "simulator.yml"

# Semantic user acts (intents of the demo shop; a shop without one of them simply never sees it)
INTENT_INFORM = "inform"
INTENT_AFFIRM = "affirm"
INTENT_DENY = "deny"
INTENT_GOODBYE = "goodbye"
INTENT_THANK = "thank"
INTENT_GREET = "greet"
INTENT_STOP = "stop"
INTENT_HUMAN = "human_agent"
INTENT_COMPLAINT = "complaint"
INTENT_BOT_CHALLENGE = "bot_challenge"
INTENT_PRODUCT_QUESTION = "product_question"

UTTER_ASK_PREFIX = "utter_ask_"
CONFIRM_SLOT_PREFIX = "confirm_"

# Episode outcomes (info["outcome"])
OUTCOME_SUCCESS = "success"
OUTCOME_HANDOFF = "handoff"
OUTCOME_USER_LEFT = "user_left"
OUTCOME_WRONG_ACTION = "wrong_action"
OUTCOME_BOT_ENDED = "bot_ended"
OUTCOME_TIMEOUT = "timeout"

# Policies compared by ``kefu sim compare``
POLICY_RULE = "rule"
POLICY_QLEARNING = "qlearning"
POLICY_MASKABLE_PPO = "maskable_ppo"
ALGOS = ("maskable_ppo", "ppo", "dqn", "a2c", "qlearning")
NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)

# What `kefu run` reads from config.yml `policies:` to serve a simulator-trained policy
SIM_POLICY_CONFIG_NAME = "KefuMLPolicy"
