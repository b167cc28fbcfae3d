"""Where a turn's time went, reported in the W3C ``Server-Timing`` response header.

The REST webhook answers every message with a header such as::

    Server-Timing: nlu-wait;dur=3.1, nlu;dur=4.2, lock;dur=0.0, tracker;dur=0.2, policy;dur=0.6,
                   actions;dur=11.8, save;dur=0.3, total;dur=21.0

(milliseconds; a browser's developer tools draw it next to the request). ``nlu-wait`` is the time a
message waited for its micro-batch to form and for the batch before it, ``nlu`` the batch's own run in
the worker thread, ``lock`` the wait for the conversation's lock, ``tracker`` reading the conversation,
``policy`` predicting the next actions, ``actions`` running them (action-server calls included),
``save`` storing the conversation, ``total`` the whole handler. What ``total`` leaves out of the
client's own measurement is time in the network stack and in the event loop's queue before the
handler ran.

A :class:`TurnTiming` lives in a context variable for the request being served; code anywhere below
the handler adds to it with :func:`timed` or :func:`record`, which do nothing when no request is being
timed (the CLI shell, tests calling the processor directly).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

SERVER_TIMING_HEADER = "Server-Timing"

# the order the header lists them in (a turn's own order); other names follow in the order they came
PHASES = ("nlu-wait", "nlu", "lock", "tracker", "policy", "actions", "save")

_current: ContextVar[TurnTiming | None] = ContextVar("kefu_turn_timing", default=None)


@dataclass
class TurnTiming:
    """Seconds spent per phase of one turn (accumulated: a turn runs several actions)."""

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, seconds: float) -> None:
        """Count ``seconds`` more for ``phase``."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + max(0.0, seconds)

    def header(self) -> str:
        """The ``Server-Timing`` value: every phase seen, then ``total`` (milliseconds, 0.1 ms steps)."""
        names = [p for p in PHASES if p in self.seconds] + [p for p in self.seconds if p not in PHASES]
        parts = [f"{name};dur={self.seconds[name] * 1000:.1f}" for name in names]
        parts.append(f"total;dur={(time.perf_counter() - self.started) * 1000:.1f}")
        return ", ".join(parts)


def start() -> tuple[TurnTiming, Token[TurnTiming | None]]:
    """Time the current request from now on; pass the token to :func:`stop` when it is answered."""
    timing = TurnTiming()
    return timing, _current.set(timing)


def stop(token: Token[TurnTiming | None]) -> None:
    """Stop timing (the request is answered)."""
    _current.reset(token)


def current() -> TurnTiming | None:
    """The timing of the request being served, if any."""
    return _current.get()


def record(phase: str, since: float) -> None:
    """Count the time from ``since`` (a ``time.perf_counter()`` reading) to now for ``phase``."""
    timing = _current.get()
    if timing is not None:
        timing.add(phase, time.perf_counter() - since)


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Count the block's duration for ``phase`` (also when it raises)."""
    timing = _current.get()
    if timing is None:
        yield
        return
    begin = time.perf_counter()
    try:
        yield
    finally:
        timing.add(phase, time.perf_counter() - begin)
