"""A tracker store wrapper that saves masked copies of conversations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.privacy.pii import PiiMasker
from bot.tracker import DialogueStateTracker

DEFAULT_LIVE_SLOT_TTL = 3600.0


class MaskingTrackerStore:
    """Wraps any tracker store: ``save`` stores a masked copy, the caller's tracker stays intact.

    The turn that is running keeps the real values (the action server needs them for the lookup in
    flight); what is persisted, and so what ``GET /conversations/...`` and story exports read back, is
    masked. So that a form can still use an e-mail given two turns earlier, the real values of masked
    *slots* are kept in this process's memory only (never persisted) for ``live_slot_ttl`` seconds after
    the conversation's last save, and put back by :meth:`retrieve_live` (the processor's turn loop).
    Another server instance, or this one after a restart, sees the masked values.

    :param store: the real tracker store (memory, SQL, Redis)
    :param masker: what to mask
    :param live_slot_ttl: seconds the real slot values stay in memory (0: not at all)
    :param clock: seconds (tests pass a fake one)
    """

    def __init__(self, store: Any, masker: PiiMasker, live_slot_ttl: float = DEFAULT_LIVE_SLOT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.masker = masker
        self.live_slot_ttl = live_slot_ttl
        self.clock = clock
        self._live: dict[str, tuple[float, dict[int, Any]]] = {}

    async def save(self, tracker: DialogueStateTracker) -> None:
        masked_events = self.masker.events(tracker.events)
        if self.live_slot_ttl > 0:
            real = {i: event.get("value") for i, (event, masked) in enumerate(zip(tracker.events, masked_events,
                                                                                  strict=True))
                    if event.get("event") == "slot" and masked.get("value") != event.get("value")}
            self._expire()
            if real:
                self._live[tracker.sender_id] = (self.clock() + self.live_slot_ttl, real)
            else:
                self._live.pop(tracker.sender_id, None)
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
        for sender_id in [s for s, (until, _) in self._live.items() if until < now]:
            del self._live[sender_id]

    def describe(self) -> str:
        describe = getattr(self.store, "describe", None)
        inner = describe() if callable(describe) else type(self.store).__name__
        return f"{inner} (PII masked)"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
