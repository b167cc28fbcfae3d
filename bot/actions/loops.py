"""Loops: actions that stay active over several turns (forms, the two-stage fallback).

``run`` follows Rasa's ``LoopAction``: activate when not active yet (an ``active_loop`` event plus
:meth:`activate`), then :meth:`do` unless already done, then deactivate (``active_loop: null`` plus
:meth:`deactivate`) once :meth:`is_done` says so.
"""

from __future__ import annotations

from typing import Any

from bot import events as ev
from bot.actions.action import Action
from bot.events import EventDict


class LoopAction(Action):
    """Base class of forms and the two-stage fallback."""

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        events: list[EventDict] = []
        if not await self.is_activated(output_channel, nlg, tracker, domain):
            events.append(ev.ActiveLoop(self.name()))
            events += await self.activate(output_channel, nlg, tracker, domain)
        if not await self.is_done(output_channel, nlg, tracker, domain, events):
            events += await self.do(output_channel, nlg, tracker, domain, events)
        if await self.is_done(output_channel, nlg, tracker, domain, events):
            events.append(ev.ActiveLoop(None))
            events += await self.deactivate(output_channel, nlg, tracker, domain, events)
        return events

    async def is_activated(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> bool:
        return tracker.active_loop_name == self.name()

    async def activate(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[EventDict]:
        return []

    async def do(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any,
                 events_so_far: list[EventDict]) -> list[EventDict]:
        raise NotImplementedError

    async def is_done(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any,
                      events_so_far: list[EventDict]) -> bool:
        raise NotImplementedError

    async def deactivate(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any,
                         events_so_far: list[EventDict]) -> list[EventDict]:
        return []
