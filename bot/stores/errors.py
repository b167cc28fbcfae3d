"""Errors of the tracker and lock stores, all under :class:`bot.errors.KefuError`.

The server maps them at the edge: :class:`StoreUnavailableError` → 503 (retry later),
:class:`LockTimeoutError` → 503 as well (the conversation is busy), :class:`StoreConfigError`
stops ``kefu run`` before it serves anything.
"""

from __future__ import annotations

from bot.errors import KefuError, UserFileError


class StoreError(KefuError):
    """A tracker store or lock store could not do what was asked."""


class StoreConfigError(UserFileError):
    """A ``tracker_store:`` or ``lock_store:`` section of endpoints.yml cannot be used."""


class StoreUnavailableError(StoreError):
    """The store's backend (Redis, a database) cannot be reached right now; retrying later may work.

    :param store: which store failed, e.g. ``"tracker store"`` or ``"lock store"``
    :param backend: where it tried, without credentials, e.g. ``"redis://127.0.0.1:6379/0"``
    :param reason: the underlying error, in words
    """

    def __init__(self, store: str, backend: str, reason: str) -> None:
        self.store = store
        self.backend = backend
        self.reason = reason
        super().__init__(f"{store} unavailable: cannot reach {backend}: {reason}")


class LockError(StoreError):
    """A conversation lock could not be taken or released."""


class LockTimeoutError(LockError):
    """Waited ``wait_timeout`` seconds for a conversation's lock without getting it.

    :param sender_id: the conversation
    :param wait_timeout: how long the caller waited, in seconds
    """

    def __init__(self, sender_id: str, wait_timeout: float) -> None:
        self.sender_id = sender_id
        self.wait_timeout = wait_timeout
        super().__init__(
            f"conversation '{sender_id}' is busy: its lock was not free within {wait_timeout:g} s"
        )
