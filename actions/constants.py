"""Names and defaults of the action server (one place for every wire and slot name)."""

ENV_ORDERS_URL = "KEFU_ORDERS_URL"
ENV_RECO_URL = "KEFU_RECO_URL"
ENV_BACKEND_TIMEOUT = "KEFU_BACKEND_TIMEOUT"
DEFAULT_ORDERS_URL = "http://127.0.0.1:5056"
DEFAULT_RECO_URL = "http://127.0.0.1:5057"
DEFAULT_TIMEOUT_S = 3.0

IDEMPOTENCY_HEADER = "Idempotency-Key"

# slots (domain.yml)
SLOT_ORDER_ID = "order_id"
SLOT_EMAIL = "email"
SLOT_PHONE = "phone"
SLOT_PRODUCT = "product"
SLOT_CATEGORY = "category"
SLOT_BRAND = "brand"
SLOT_COLOR = "color"
SLOT_SIZE = "size"
SLOT_RETURN_REASON = "return_reason"
SLOT_CONFIRM_CANCEL = "confirm_cancel"
SLOT_NEW_ADDRESS = "new_address"
SLOT_ORDER_STATUS = "order_status"
SLOT_SENTIMENT = "sentiment"

# responses (domain.yml)
UTTER_ORDER_STATUS = "utter_order_status"
UTTER_HANDOFF = "utter_handoff"
UTTER_ASK_EMAIL = "utter_ask_email"

# intents used in button payloads
INTENT_HUMAN = "/human_agent"
INTENT_GOODBYE = "/goodbye"

# metadata keys an authenticated channel may send with the user message
METADATA_EMAIL = "customer_email"
METADATA_PHONE = "customer_phone"
METADATA_CUSTOMER_ID = "customer_id"

ORDER_ID_PATTERN = r"(?<![A-Za-z0-9])([A-Za-z])[- ]?(\d{5})(?!\d)"
RECOMMENDATIONS_SHOWN = 3
