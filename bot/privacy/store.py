"""A tracker store wrapper that saves masked copies of conversations."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bot.privacy.pii import PiiMasker
from bot.tracker import DialogueStateTracker

DEFAULT_LIVE_SLOT_TTL = 3600.0
DEFAULT_MAX_LIVE_CONVERSATIONS = 10_000


class MaskingTrackerStore:
    """Wraps any tracker store: ``save`` stores a masked copy, the caller's tracker stays intact.

    The turn that is running keeps the real values (the action server needs them for the lookup in
    flight); what is persisted, and so what ``GET /conversations/...`` and story exports read back, is
    masked. So that a form can still use an e-mail given two turns earlier, the real values of masked
    *slots* are kept in this process's memory only (never persisted) for ``live_slot_ttl`` seconds after
    the conversation's last save, and put back by :meth:`retrieve_live` (the processor's turn loop).
    Another server instance, or this one after a restart, sees the masked values.

    The memory is bounded: at most ``max_live_conversations`` conversations keep live values (the ones
    saved longest ago are dropped first, as if their time had run out), and expiry costs O(1) per save
    (entries are kept in expiry order), so a sales day's flood of short conversations cannot grow the
    process without end.

    :param store: the real tracker store (memory, SQL, Redis)
    :param masker: what to mask
    :param live_slot_ttl: seconds the real slot values stay in memory (0: not at all)
    :param max_live_conversations: most conversations whose real slot values are kept
    :param clock: seconds, never going back (tests pass a fake one)
    """

    def __init__(self, store: Any, masker: PiiMasker, live_slot_ttl: float = DEFAULT_LIVE_SLOT_TTL,
                 clock: Callable[[], float] = time.monotonic,
                 max_live_conversations: int = DEFAULT_MAX_LIVE_CONVERSATIONS) -> None:
        if max_live_conversations < 0:
            raise ValueError(f"max_live_conversations must be >= 0, got {max_live_conversations}")
        self.store = store
        self.masker = masker
        self.live_slot_ttl = live_slot_ttl
        self.max_live_conversations = max_live_conversations
        self.clock = clock
        # sender id -> (expires at, {event index: real value}); oldest save first = soonest expiry first
        self._live: OrderedDict[str, tuple[float, dict[int, Any]]] = OrderedDict()

    def __len__(self) -> int:
        """How many conversations have real slot values in memory right now."""
        return len(self._live)

    async def save(self, tracker: DialogueStateTracker) -> None:
        masked_events = self.masker.events(tracker.events)
        if self.live_slot_ttl > 0:
            real = {i: event.get("value") for i, (event, masked) in enumerate(zip(tracker.events, masked_events,
                                                                                  strict=True))
                    if event.get("event") == "slot" and masked.get("value") != event.get("value")}
            self._live.pop(tracker.sender_id, None)
            self._expire()
            if real and self.max_live_conversations > 0:
                while len(self._live) >= self.max_live_conversations:
                    self._live.popitem(last=False)
                self._live[tracker.sender_id] = (self.clock() + self.live_slot_ttl, real)
        # rebuilt from the masked events, so derived state (slots, latest message) is masked too
        await self.store.save(DialogueStateTracker(tracker.sender_id, tracker.slot_defaults, masked_events))

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation as stored (masked): what the API and story exports see."""
        return await self.store.retrieve(sender_id)

    async def retrieve_live(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation for the next turn: masked, with this server's live slot values put back."""
        tracker = await self.store.retrieve(sender_id)
        live = self._live.get(sender_id)
        if tracker is None or live is None or live[0] < self.clock():
            return tracker
        events = [dict(e, value=live[1][i]) if i in live[1] and e.get("event") == "slot" else e
                  for i, e in enumerate(tracker.events)]
        return DialogueStateTracker(sender_id, tracker.slot_defaults, events)

    async def delete(self, sender_id: str) -> bool:
        self._live.pop(sender_id, None)
        return bool(await self.store.delete(sender_id))

    def _expire(self) -> None:
        now = self.clock()
        while self._live:
            until, _ = next(iter(self._live.values()))
            if until >= now:
                break
            self._live.popitem(last=False)

    def describe(self) -> str:
        describe = getattr(self.store, "describe", None)
        inner = describe() if callable(describe) else type(self.store).__name__
        return f"{inner} (PII masked)"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
