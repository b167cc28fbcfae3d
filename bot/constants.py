"""Names Kefu shares with Rasa: built-in actions, intents, slots and defaults."""

ACTION_LISTEN_NAME = "action_listen"
ACTION_RESTART_NAME = "action_restart"
ACTION_SESSION_START_NAME = "action_session_start"
ACTION_DEFAULT_FALLBACK_NAME = "action_default_fallback"
ACTION_DEACTIVATE_LOOP_NAME = "action_deactivate_loop"
ACTION_REVERT_FALLBACK_EVENTS_NAME = "action_revert_fallback_events"
ACTION_DEFAULT_ASK_AFFIRMATION_NAME = "action_default_ask_affirmation"
ACTION_DEFAULT_ASK_REPHRASE_NAME = "action_default_ask_rephrase"
ACTION_TWO_STAGE_FALLBACK_NAME = "action_two_stage_fallback"
ACTION_UNLIKELY_INTENT_NAME = "action_unlikely_intent"
ACTION_BACK_NAME = "action_back"
ACTION_EXTRACT_SLOTS_NAME = "action_extract_slots"
ACTION_VALIDATE_SLOT_MAPPINGS_NAME = "action_validate_slot_mappings"
ACTION_HANDOFF_NAME = "action_kefu_handoff"

DEFAULT_ACTION_NAMES = [
    ACTION_LISTEN_NAME,
    ACTION_RESTART_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_REVERT_FALLBACK_EVENTS_NAME,
    ACTION_DEFAULT_ASK_AFFIRMATION_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    ACTION_BACK_NAME,
    ACTION_EXTRACT_SLOTS_NAME,
    ACTION_HANDOFF_NAME,
]

# Intents Rasa knows without a declaration
INTENT_NLU_FALLBACK = "nlu_fallback"
INTENT_RESTART = "restart"
INTENT_BACK = "back"
INTENT_SESSION_START = "session_start"
DEFAULT_INTENTS = [INTENT_RESTART, INTENT_BACK, INTENT_SESSION_START, INTENT_NLU_FALLBACK]

REQUESTED_SLOT = "requested_slot"
SESSION_START_METADATA_SLOT = "session_started_metadata"
SENTIMENT_SLOT = "sentiment"
LANGUAGE_SLOT = "language"  # Kefu: filled from the NLU's ``language`` (custom mapping), for per-language responses
SENTIMENT_LABELS = ["positive", "neutral", "negative", "angry", "anxious"]

SLOT_TYPES = ["text", "bool", "categorical", "float", "list", "any"]
MAPPING_TYPES = ["from_entity", "from_text", "from_intent", "from_trigger_intent", "custom"]

DEFAULT_SESSION_EXPIRATION_MINUTES = 60.0

UTTER_PREFIX = "utter_"
IS_RETRIEVAL_INTENT = "is_retrieval_intent"  # intent property Rasa sets on retrieval intents (``faq`` of ``faq/x``)
RESPONSE_SELECTOR_DEFAULT = "default"  # response_selector key of a ResponseSelector with no ``retrieval_intent``
