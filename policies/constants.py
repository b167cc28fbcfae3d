"""Names and defaults the dialogue policies share (Rasa 3.x values where Rasa has one)."""

# Rasa's placeholder action for "anything may happen here" in rules (``...``): inserted before the steps
# of a rule without ``conversation_start: true`` and after a rule with ``wait_for_user_input: false``.
RULE_SNIPPET_ACTION_NAME = "..."

# A rule's ``slot_was_set: [x: null]`` / ``active_loop: null`` becomes this marker: the slot (loop)
# must *not* be set for the rule to apply.
SHOULD_NOT_BE_SET = "should_not_be_set"

# Keys of a Rasa-style dialogue state (``{"user": ..., "prev_action": ..., "active_loop": ..., "slots": ...}``)
USER = "user"
PREVIOUS_ACTION = "prev_action"
ACTIVE_LOOP = "active_loop"
SLOTS = "slots"
REQUESTED = "requested_slot"  # Kefu: only in states built for the ML featurizer
INTENT = "intent"
ENTITIES = "entities"
ACTION_NAME = "action_name"
LOOP_NAME = "name"
ENTITY_LABEL_SEPARATOR = "#"

# Priorities (rasa/core/constants.py, 3.x): higher wins a tie in confidence.
DEFAULT_POLICY_PRIORITY = 1  # TEDPolicy -> KefuMLPolicy
UNLIKELY_INTENT_POLICY_PRIORITY = 2
MEMOIZATION_POLICY_PRIORITY = 3
RULE_POLICY_PRIORITY = 4

DEFAULT_MAX_HISTORY = 5
DEFAULT_CORE_FALLBACK_THRESHOLD = 0.3

# Sources the RulePolicy reports for predictions that no rule file wrote (Rasa's wording)
DEFAULT_RULES = "predicting default action with intent "
LOOP_RULES = "handling active loops and forms - "
LOOP_RULES_SEPARATOR = " - "

PARAMS_FILE = "params.json"
WEIGHTS_FILE = "weights.pt"
LOOKUP_FILE = "lookup.json"
ENSEMBLE_FILE = "ensemble.json"
