"""The action protocol and Kefu's simple built-in actions (Rasa's defaults).

An action is ``name()`` plus ``async run(output_channel, nlg, tracker, domain) -> list[event]``: it
returns events (bot messages are ``bot`` events) and never touches the tracker itself. The processor
sends the bot messages to the channel and applies the events.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot import events as ev
from bot.constants import (
    ACTION_BACK_NAME,
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_DEFAULT_ASK_AFFIRMATION_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    ACTION_RESTART_NAME,
    ACTION_REVERT_FALLBACK_EVENTS_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    REQUESTED_SLOT,
    RESPONSE_SELECTOR_DEFAULT,
    SESSION_START_METADATA_SLOT,
    UTTER_PREFIX,
)
from bot.errors import KefuError
from bot.events import EventDict

if TYPE_CHECKING:
    from bot.channels.base import OutputChannel
    from bot.domain import Domain
    from bot.nlg import TemplatedNLG
    from bot.tracker import DialogueStateTracker

logger = logging.getLogger(__name__)

USER_INTENT_OUT_OF_SCOPE = "out_of_scope"
BOT_DATA_KEYS = ("elements", "quick_replies", "buttons", "attachment", "image", "custom")


class ActionExecutionRejection(KefuError):
    """An action refused to run on this input (a form that extracted nothing, a 400 from the action server)."""

    def __init__(self, action_name: str, message: str | None = None) -> None:
        self.action_name = action_name
        self.message = message or f"action '{action_name}' rejected execution"
        super().__init__(self.message)


def bot_utterance(message: dict[str, Any]) -> EventDict:
    """A ``bot`` event from a message dict (``text`` + data keys; the rest becomes metadata)."""
    message = dict(message)
    text = message.pop("text", None)
    data = {key: message.pop(key, None) for key in BOT_DATA_KEYS}
    return ev.BotUttered(text=text, data=data, metadata=message)


def message_of(event: EventDict) -> dict[str, Any]:
    """The channel message a ``bot`` event stands for (None values dropped)."""
    message = {"text": event.get("text")}
    message.update({k: v for k, v in (event.get("data") or {}).items() if v is not None})
    return {k: v for k, v in message.items() if v is not None}


class Action:
    """Base class: subclasses set ``name()`` and ``run``."""

    def name(self) -> str:
        raise NotImplementedError

    async def run(
        self, output_channel: OutputChannel, nlg: TemplatedNLG, tracker: DialogueStateTracker, domain: Domain
    ) -> list[EventDict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.name()}')"


class ActionBotResponse(Action):
    """Sends a domain response (``utter_*``); ``silent_fail`` hides a missing response."""

    def __init__(self, response_name: str, silent_fail: bool = False, action_name: str | None = None) -> None:
        self.response_name = response_name
        self.silent_fail = silent_fail
        self._name = action_name or response_name

    def name(self) -> str:
        return self._name

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return self.utter(self.response_name, output_channel, nlg, tracker)

    @staticmethod
    def utter(response_name: str, output_channel: OutputChannel, nlg: TemplatedNLG,
              tracker: DialogueStateTracker) -> list[EventDict]:
        """The ``bot`` event saying ``response_name`` (none when the domain has no such response)."""
        message = nlg.generate(response_name, tracker.slots, output_channel.name())
        if message is None:
            return []
        message["utter_action"] = response_name
        return [bot_utterance(message)]


class ActionRetrieveResponse(ActionBotResponse):
    """``utter_faq``: says the ``utter_faq/<sub-intent>`` response the ResponseSelector chose (Rasa's action).

    The latest message's ``response_selector`` is read under the retrieval intent's own key, else
    under ``default`` (a ResponseSelector configured without ``retrieval_intent``).
    """

    def __init__(self, action_name: str) -> None:
        super().__init__(action_name, silent_fail=True)

    def chosen_response(self, tracker: DialogueStateTracker) -> str | None:
        """The full response name (``utter_faq/returns``) the latest message's selector chose, if any."""
        selector = (tracker.latest_message or {}).get("response_selector") or {}
        retrieval_intent = self.name()[len(UTTER_PREFIX):]
        selected = selector.get(retrieval_intent) or selector.get(RESPONSE_SELECTOR_DEFAULT) or {}
        return (selected.get("response") or {}).get("utter_action")

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        response_name = self.chosen_response(tracker)
        if response_name is None:
            logger.warning("action '%s': the latest message has no response_selector result for it", self.name())
            return []
        return self.utter(response_name, output_channel, nlg, tracker)


class ActionEndToEndResponse(Action):
    """Says a story's end-to-end ``bot:`` text as it is (Rasa's ``ActionEndToEndResponse``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def name(self) -> str:
        return self.text

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return [bot_utterance({"text": self.text})]


class ActionListen(Action):
    """Waits for the user: no events of its own."""

    def name(self) -> str:
        return ACTION_LISTEN_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return []


class ActionRestart(ActionBotResponse):
    """Sends ``utter_restart`` if the domain has it, then restarts the conversation."""

    def __init__(self) -> None:
        super().__init__("utter_restart", silent_fail=True, action_name=ACTION_RESTART_NAME)

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return await super().run(output_channel, nlg, tracker, domain) + [ev.Restarted()]


class ActionSessionStart(Action):
    """Starts a session: ``session_started``, carried-over slots, session metadata, then ``action_listen``."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def name(self) -> str:
        return ACTION_SESSION_START_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        events: list[EventDict] = [ev.SessionStarted()]
        if domain.carry_over_slots:
            events += [ev.SlotSet(e["name"], e.get("value")) for e in tracker.applied_events()
                       if e.get("event") == ev.SLOT]
        if self.metadata:
            events.append(ev.SlotSet(SESSION_START_METADATA_SLOT, self.metadata))
        events.append(ev.ActionExecuted(ACTION_LISTEN_NAME))
        return events


class ActionDefaultFallback(ActionBotResponse):
    """Sends ``utter_default`` and removes the user message that could not be handled."""

    def __init__(self) -> None:
        super().__init__("utter_default", silent_fail=True, action_name=ACTION_DEFAULT_FALLBACK_NAME)

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return await super().run(output_channel, nlg, tracker, domain) + [ev.UserUtteranceReverted()]


class ActionDeactivateLoop(Action):
    """Deactivates the active loop and clears ``requested_slot``."""

    def name(self) -> str:
        return ACTION_DEACTIVATE_LOOP_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return [ev.ActiveLoop(None), ev.SlotSet(REQUESTED_SLOT, None)]


class ActionBack(ActionBotResponse):
    """Sends ``utter_back`` if present and reverts the last two user turns."""

    def __init__(self) -> None:
        super().__init__("utter_back", silent_fail=True, action_name=ACTION_BACK_NAME)

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return await super().run(output_channel, nlg, tracker, domain) + [
            ev.UserUtteranceReverted(), ev.UserUtteranceReverted()
        ]


class ActionUnlikelyIntent(Action):
    """Marks an unlikely user turn; does nothing (Rasa's ``action_unlikely_intent``)."""

    def name(self) -> str:
        return ACTION_UNLIKELY_INTENT_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return []


class ActionDefaultAskAffirmation(Action):
    """Asks "Did you mean '<intent>'?" with Yes (``/<intent>``) / No (``/out_of_scope``) buttons.

    The domain's ``utter_ask_affirmation`` is used when present (``{intent}`` is filled in).
    """

    def name(self) -> str:
        return ACTION_DEFAULT_ASK_AFFIRMATION_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        ranking = latest.get("intent_ranking") or []
        if intent == "nlu_fallback" and len(ranking) > 1:
            intent = ranking[1].get("name")
        buttons = [{"title": "Yes", "payload": f"/{intent}"}, {"title": "No", "payload": f"/{USER_INTENT_OUT_OF_SCOPE}"}]
        message = nlg.generate("utter_ask_affirmation", {**tracker.slots, "intent": intent}, output_channel.name())
        if message is None:
            message = {"text": f"Did you mean '{intent}'?"}
        message.setdefault("buttons", buttons)
        message["utter_action"] = "utter_ask_affirmation"
        return [bot_utterance(message)]


class ActionDefaultAskRephrase(ActionBotResponse):
    """Sends ``utter_ask_rephrase``."""

    def __init__(self) -> None:
        super().__init__("utter_ask_rephrase", silent_fail=True, action_name=ACTION_DEFAULT_ASK_REPHRASE_NAME)


class ActionRevertFallbackEvents(Action):
    """Rasa 1.x leftover kept for compatibility: nothing to revert in Kefu's two-stage fallback."""

    def name(self) -> str:
        return ACTION_REVERT_FALLBACK_EVENTS_NAME

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        return []
