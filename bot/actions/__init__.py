"""Actions the bot runs: built-ins, responses, forms, Kefu's handoff and remote custom actions.

:func:`action_for_name` follows Rasa's lookup order: a built-in (unless the domain declares an action
of that name, which then runs on the action server), an ``utter_*`` response, a form (unless
overridden by a custom action of the same name), else a custom action on the action server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.actions.action import (
    Action,
    ActionBack,
    ActionBotResponse,
    ActionDeactivateLoop,
    ActionDefaultAskAffirmation,
    ActionDefaultAskRephrase,
    ActionDefaultFallback,
    ActionEndToEndResponse,
    ActionExecutionRejection,
    ActionListen,
    ActionRestart,
    ActionRetrieveResponse,
    ActionRevertFallbackEvents,
    ActionSessionStart,
    ActionUnlikelyIntent,
    bot_utterance,
    message_of,
)
from bot.actions.extract_slots import ActionExtractSlots
from bot.actions.forms import FormAction
from bot.actions.handoff import ActionHandoff
from bot.actions.remote import (
    ActionClient,
    ActionEndpoint,
    ActionNotFoundError,
    ActionServerError,
    RemoteAction,
)
from bot.actions.two_stage_fallback import TwoStageFallbackAction
from bot.constants import UTTER_PREFIX

if TYPE_CHECKING:
    from bot.domain import Domain

__all__ = [
    "Action", "ActionBotResponse", "ActionClient", "ActionEndToEndResponse", "ActionEndpoint", "ActionExecutionRejection", "ActionExtractSlots",
    "ActionHandoff", "ActionNotFoundError", "ActionRetrieveResponse", "ActionServerError", "FormAction", "RemoteAction",
    "TwoStageFallbackAction", "action_for_name", "bot_utterance", "message_of",
]



def builtin_actions(domain: Domain, client: ActionClient | None) -> dict[str, Action]:
    """Every built-in action by name (they are cheap to build)."""

    def factory(name: str) -> Action:
        return action_for_name(name, domain, client)

    actions: list[Action] = [
        ActionListen(), ActionRestart(), ActionSessionStart(), ActionDefaultFallback(), ActionDeactivateLoop(),
        ActionRevertFallbackEvents(), ActionDefaultAskAffirmation(), ActionDefaultAskRephrase(),
        TwoStageFallbackAction(factory), ActionUnlikelyIntent(), ActionBack(), ActionExtractSlots(client),
        ActionHandoff(),
    ]
    return {a.name(): a for a in actions}


def action_for_name(name: str, domain: Domain, client: ActionClient | None) -> Action:
    """The action called ``name`` (Rasa's ``action_for_name_or_text``)."""
    declared = set(domain.actions)
    if name not in declared:
        builtins = builtin_actions(domain, client)
        if name in builtins:
            return builtins[name]
    if name in domain.action_texts and name not in declared:
        return ActionEndToEndResponse(name)
    if domain.is_retrieval_action(name):
        return ActionRetrieveResponse(name)
    if name.startswith(UTTER_PREFIX):
        return ActionBotResponse(name)
    if name in domain.forms and name not in declared:
        return FormAction(name, client, lambda other: action_for_name(other, domain, client))
    return RemoteAction(name, client)
