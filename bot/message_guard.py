"""Per-sender rate limit and message size cap, applied to every channel's messages by the processor.

Configured by endpoints.yml's ``rate_limit:`` section::

    rate_limit:
      messages: 20        # at most this many messages per sender ...
      per_seconds: 60     # ... in this sliding window (absent section: no rate limit)
      max_message_chars: 5000

A rejected message raises :class:`MessageRejectedError`; the server turns it into a JSON error
(429 with ``Retry-After``, or 413) and socket.io tells the shopper in the chat.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import KefuError

DEFAULT_MAX_MESSAGE_CHARS = 100_000
MAX_TRACKED_SENDERS = 100_000


class MessageRejectedError(KefuError):
    """A user message the guard refused (``status`` 429 or 413, ``reason`` for the JSON body)."""

    def __init__(self, message: str, status: int, reason: str, retry_after: float | None = None) -> None:
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(message)


@dataclass
class MessageGuard:
    """Sliding-window rate limit per sender plus a size cap.

    :param messages: most messages per sender in ``per_seconds`` (None: no rate limit)
    :param per_seconds: the window's length
    :param max_message_chars: longest accepted message
    :param clock: monotonic seconds (tests pass a fake one)
    """

    messages: int | None = None
    per_seconds: float = 60.0
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
                    ) -> MessageGuard:
        """Read ``rate_limit:``; a bad value raises ``ValueError`` naming the key and what was expected."""
        config = dict(config or {})
        unknown = sorted(set(config) - {"messages", "per_seconds", "max_message_chars"})
        if unknown:
            raise ValueError(f"rate_limit: unknown key(s) {unknown} (expected messages, per_seconds, max_message_chars)")
        out = cls(max_message_chars=max_message_chars)
        for key, cast in (("messages", int), ("per_seconds", float), ("max_message_chars", int)):
            if config.get(key) is None:
                continue
            try:
                value = cast(config[key])
            except (TypeError, ValueError):
                raise ValueError(f"rate_limit.{key}: expected a number, got {config[key]!r}") from None
            if value <= 0:
                raise ValueError(f"rate_limit.{key}: must be positive, got {value}")
            setattr(out, key, value)
        return out

    def check(self, sender_id: str, text: str | None) -> None:
        """Admit one message or raise :class:`MessageRejectedError` (rejected messages do not count)."""
        if text is not None and len(text) > self.max_message_chars:
            raise MessageRejectedError(f"the message has {len(text)} characters; at most {self.max_message_chars} "
                                       "are accepted", 413, "MessageTooLarge")
        if self.messages is None:
            return
        now = self.clock()
        window = self._seen.get(sender_id)
        if window is None:
            if len(self._seen) >= MAX_TRACKED_SENDERS:
                self._forget_idle(now)
            window = self._seen[sender_id] = deque()
        while window and window[0] <= now - self.per_seconds:
            window.popleft()
        if len(window) >= self.messages:
            retry_after = max(0.0, window[0] + self.per_seconds - now)
            raise MessageRejectedError(f"too many messages from this sender: at most {self.messages} per "
                                       f"{self.per_seconds:g} s; try again in {retry_after:.0f} s",
                                       429, "TooManyRequests", retry_after)
        window.append(now)

    def _forget_idle(self, now: float) -> None:
        for sender_id in [s for s, w in self._seen.items() if not w or w[-1] <= now - self.per_seconds]:
            del self._seen[sender_id]
