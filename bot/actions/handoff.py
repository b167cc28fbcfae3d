"""Kefu's human handoff: pause the conversation, put it in the handoff queue, tell the shopper.

The conversation stays paused (the bot no longer answers; the shopper's messages are still
recorded) until an agent hands it back with ``POST /conversations/{id}/resume``. The shopper is
told with the domain's ``utter_handoff`` (its ``condition:`` variations pick the tone) or a default
text. The processor runs this action when a policy predicts it, when the shopper stays angry for
several turns, or after repeated fallbacks; the reason is recorded in the ``kefu_handoff`` event.
"""

from __future__ import annotations

from bot import events as ev
from bot.actions.action import Action, bot_utterance
from bot.constants import ACTION_HANDOFF_NAME, REQUESTED_SLOT
from bot.events import EventDict

UTTER_HANDOFF = "utter_handoff"
DEFAULT_HANDOFF_TEXT = "I'm handing you over to a member of our team. Someone will reply here shortly."
REASON_REQUESTED = "requested"
REASON_ANGER = "anger"
REASON_FALLBACKS = "fallbacks"


class ActionHandoff(Action):
    """Pauses the conversation and records a handoff.

    :param reason: why (``requested``, ``anger``, ``fallbacks``)
    """

    def __init__(self, reason: str = REASON_REQUESTED) -> None:
        self.reason = reason

    def name(self) -> str:
        return ACTION_HANDOFF_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        message = nlg.generate(UTTER_HANDOFF, tracker.slots, output_channel.name())
        if message is None:
            message = {"text": DEFAULT_HANDOFF_TEXT}
        message["utter_action"] = UTTER_HANDOFF
        events: list[EventDict] = [bot_utterance(message)]
        if tracker.active_loop_name:
            events += [ev.ActiveLoop(None), ev.SlotSet(REQUESTED_SLOT, None)]
        events += [ev.HandedOff(self.reason), ev.ConversationPaused()]
        return events
