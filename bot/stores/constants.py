"""Names and defaults of Kefu's tracker and lock stores (``tracker_store:`` / ``lock_store:`` in endpoints.yml)."""

TRACKER_STORE_SECTION = "tracker_store"
LOCK_STORE_SECTION = "lock_store"

IN_MEMORY_STORE = "in_memory"
SQL_STORE = "sql"
REDIS_STORE = "redis"
TRACKER_STORE_TYPES = (IN_MEMORY_STORE, SQL_STORE, REDIS_STORE)
LOCK_STORE_TYPES = (IN_MEMORY_STORE, REDIS_STORE)

# Redis (Rasa's keys and defaults)
DEFAULT_REDIS_HOST = "localhost"
DEFAULT_REDIS_PORT = 6379
DEFAULT_REDIS_DB = 0
DEFAULT_REDIS_SOCKET_TIMEOUT = 10.0  # seconds, as Rasa's lock store
DEFAULT_REDIS_CONNECT_TIMEOUT = 2.0  # seconds: an unreachable Redis answers 503 quickly
REDIS_TRACKER_KEY_PREFIX = "tracker:"  # Rasa: "tracker:<sender_id>", or "<key_prefix>:tracker:<sender_id>"
REDIS_LOCK_KEY_PREFIX = "lock:"  # Rasa: "lock:..." or "<key_prefix>:lock:..."

# SQL (Rasa's keys; Rasa's default file is rasa.db)
DEFAULT_SQL_DIALECT = "sqlite"
DEFAULT_SQL_DB = "kefu.db"
SQL_EVENTS_TABLE = "events"
DEFAULT_SQL_CONNECT_TIMEOUT = 10  # seconds, for server databases (PostgreSQL, MySQL)

# Locks
DEFAULT_LOCK_LIFETIME = 60.0  # seconds a holder may keep a conversation's lock (Rasa's default)
DEFAULT_LOCK_WAIT_TIMEOUT = 60.0  # seconds a turn waits for the lock before LockTimeoutError
DEFAULT_LOCK_HEARTBEAT_INTERVAL = 1.0  # seconds between a Redis lock waiter's liveness updates
LOCK_WAITER_TTL_HEARTBEATS = 5  # a waiter that misses this many heartbeats has crashed and is skipped
