"""Constants shared by Kefu's backends (ports, defaults, wire names)."""

from __future__ import annotations

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ORDERS_PORT = 5056
DEFAULT_RECO_PORT = 5057

DEFAULT_ORDERS_DB_URL = "sqlite:///.kefu/orders.db"
DEFAULT_RECO_MODEL_DIR = "models/recommender"
DEFAULT_SEED = 42

# Environment variables read once by the command line (``Settings.from_env``), never by library code.
ENV_ORDERS_DB_URL = "KEFU_ORDERS_DB_URL"
ENV_ORDERS_PORT = "KEFU_ORDERS_PORT"
ENV_RECO_PORT = "KEFU_RECO_PORT"
ENV_RECO_MODEL_DIR = "KEFU_RECO_MODEL_DIR"

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 128
MAX_ORDER_ID_LENGTH = 64

# Order life cycle: placed -> paid -> shipped -> delivered, and the two ends returned / cancelled.
ORDER_PLACED = "placed"
ORDER_PAID = "paid"
ORDER_SHIPPED = "shipped"
ORDER_DELIVERED = "delivered"
ORDER_RETURNED = "returned"
ORDER_CANCELLED = "cancelled"
ORDER_STATUSES = (ORDER_PLACED, ORDER_PAID, ORDER_SHIPPED, ORDER_DELIVERED, ORDER_RETURNED, ORDER_CANCELLED)
BEFORE_SHIPPING = (ORDER_PLACED, ORDER_PAID)

RETURN_REQUESTED = "requested"
RETURN_RECEIVED = "received"
RETURN_REFUNDED = "refunded"

REFUND_PENDING = "pending"
REFUND_PROCESSING = "processing"
REFUND_COMPLETED = "completed"

EVENT_VIEW = "view"
EVENT_PURCHASE = "purchase"
EVENT_TYPES = (EVENT_VIEW, EVENT_PURCHASE)
