"""Connecting to Redis from Rasa's endpoint keys, and turning connection failures into one typed error.

Both Redis stores share this: :class:`RedisSettings` holds Rasa's keys (``url``, ``port``, ``db``,
``username``, ``password``, ``use_ssl``, ``ssl_keyfile``, ``ssl_certfile``, ``ssl_ca_certs``,
``socket_timeout``) and builds a ``redis.asyncio`` client; :func:`redis_errors` maps every way of
not reaching Redis (refused, timed out, loading after a restart, read-only replica) to
:class:`~bot.stores.errors.StoreUnavailableError`. The client reconnects by itself on the next
command, so a restarted Redis is used again without restarting Kefu.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import exceptions as redis_exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from bot.stores.constants import (
    DEFAULT_REDIS_CONNECT_TIMEOUT,
    DEFAULT_REDIS_DB,
    DEFAULT_REDIS_HOST,
    DEFAULT_REDIS_PORT,
    DEFAULT_REDIS_SOCKET_TIMEOUT,
)
from bot.stores.endpoint_section import EndpointSection
from bot.stores.errors import StoreUnavailableError

REDIS_CONNECTION_KEYS = (
    "url", "host", "port", "db", "username", "password", "use_ssl", "ssl_keyfile", "ssl_certfile",
    "ssl_ca_certs", "socket_timeout", "socket_connect_timeout",
)
# A connection that breaks is retried twice, quickly: enough to ride over a dropped socket,
# short enough that a Redis that is down gives a 503 within a fraction of a second.
_RETRY_COUNT = 2
_RETRY_BASE = 0.02
_RETRY_CAP = 0.2

_UNAVAILABLE = (
    redis_exceptions.ConnectionError,  # refused, reset, auth failed, still loading its data after a restart
    redis_exceptions.TimeoutError,
    redis_exceptions.ReadOnlyError,  # a replica, or a primary that lost its role
    redis_exceptions.ClusterDownError,
    redis_exceptions.TryAgainError,
    socket.timeout,
    TimeoutError,
    OSError,
)


@dataclass(frozen=True)
class RedisSettings:
    """Where a Redis store connects (Rasa's keys).

    :param host: host name; Rasa calls it ``url``. A full ``redis://`` / ``rediss://`` URL also works,
        and then carries the port, db and credentials itself.
    :param port: TCP port
    :param db: database number
    :param username: ACL user (Redis 6+)
    :param password: password
    :param use_ssl: connect with TLS
    :param ssl_keyfile: client key for TLS
    :param ssl_certfile: client certificate for TLS
    :param ssl_ca_certs: CA bundle for TLS
    :param socket_timeout: seconds to wait for an answer (Rasa's key)
    :param socket_connect_timeout: seconds to wait for a connection (default: the smaller of 2 s and
        ``socket_timeout``)
    """

    host: str = DEFAULT_REDIS_HOST
    port: int = DEFAULT_REDIS_PORT
    db: int = DEFAULT_REDIS_DB
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_ca_certs: str | None = None
    socket_timeout: float | None = DEFAULT_REDIS_SOCKET_TIMEOUT
    socket_connect_timeout: float | None = None

    @classmethod
    def from_section(cls, section: EndpointSection) -> RedisSettings:
        host = section.get_str("url") or section.get_str("host") or DEFAULT_REDIS_HOST
        socket_timeout = section.get_float("socket_timeout", DEFAULT_REDIS_SOCKET_TIMEOUT)
        if socket_timeout == 0:
            raise section.error("socket_timeout", "expected a number of seconds > 0")
        return cls(
            host=host,
            port=section.get_int("port", DEFAULT_REDIS_PORT),
            db=section.get_int("db", DEFAULT_REDIS_DB),
            username=section.get_str("username"),
            password=section.get_str("password"),
            use_ssl=section.get_bool("use_ssl", False),
            ssl_keyfile=section.get_str("ssl_keyfile"),
            ssl_certfile=section.get_str("ssl_certfile"),
            ssl_ca_certs=section.get_str("ssl_ca_certs"),
            socket_timeout=socket_timeout,
            socket_connect_timeout=section.get_float("socket_connect_timeout"),
        )

    @property
    def is_url(self) -> bool:
        return "://" in self.host

    @property
    def connect_timeout(self) -> float | None:
        if self.socket_connect_timeout is not None:
            return self.socket_connect_timeout
        if self.socket_timeout is None:
            return DEFAULT_REDIS_CONNECT_TIMEOUT
        return min(DEFAULT_REDIS_CONNECT_TIMEOUT, self.socket_timeout)

    def describe(self) -> str:
        """Where this connects, for messages: never shows a password."""
        if self.is_url:
            scheme, _, rest = self.host.partition("://")
            return f"{scheme}://{rest.rpartition('@')[2]}"
        scheme = "rediss" if self.use_ssl else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    def create_client(self) -> aioredis.Redis:
        """A ``redis.asyncio`` client (a pool of connections, opened lazily) that decodes to ``str``."""
        common = {
            "decode_responses": True,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": Retry(ExponentialBackoff(cap=_RETRY_CAP, base=_RETRY_BASE), _RETRY_COUNT),
            "health_check_interval": 30,
        }
        if self.is_url:
            return aioredis.Redis.from_url(self.host, **common)
        tls = {}
        if self.use_ssl:
            tls = {"ssl_keyfile": self.ssl_keyfile, "ssl_certfile": self.ssl_certfile,
                   "ssl_ca_certs": self.ssl_ca_certs}
        return aioredis.Redis(
            host=self.host, port=self.port, db=self.db, username=self.username, password=self.password,
            ssl=self.use_ssl, **tls, **common,
        )


@contextmanager
def redis_errors(store: str, settings: RedisSettings) -> Iterator[None]:
    """Re-raise any failure to reach Redis inside the block as :class:`StoreUnavailableError`."""
    try:
        yield
    except _UNAVAILABLE as error:
        reason = str(error) or type(error).__name__
        raise StoreUnavailableError(store, settings.describe(), reason) from error


def escape_glob(text: str) -> str:
    """``text`` with Redis glob characters escaped, for ``SCAN MATCH``."""
    return "".join("\\" + ch if ch in "*?[]\\^" else ch for ch in text)
