"""Conversation events with Rasa's wire names: tiny constructors that return plain dicts.

Like rasa-sdk's ``events.py``: every wire name lives in this one file, events are JSON-ready
dicts, and :func:`check_event` says what is wrong with one that came from outside.
"""

from __future__ import annotations

import time
from typing import Any

EventDict = dict[str, Any]

USER = "user"
BOT = "bot"
ACTION = "action"
SLOT = "slot"
ACTIVE_LOOP = "active_loop"
FOLLOWUP = "followup"
RESET_SLOTS = "reset_slots"
RESTART = "restart"
SESSION_STARTED = "session_started"
PAUSE = "pause"
RESUME = "resume"
REWIND = "rewind"
UNDO = "undo"
REMINDER = "reminder"
CANCEL_REMINDER = "cancel_reminder"
LOOP_INTERRUPTED = "loop_interrupted"
ACTION_EXECUTION_REJECTED = "action_execution_rejected"
AGENT = "agent"
EXPORT = "export"
ENTITIES = "entities"
USER_FEATURIZATION = "user_featurization"
ACTION_ERROR = "kefu_action_error"  # Kefu: an action failed (dead action server, timeout)
HANDOFF = "kefu_handoff"  # Kefu: the conversation was handed to a human

EVENT_NAMES = {
    USER, BOT, ACTION, SLOT, ACTIVE_LOOP, FOLLOWUP, RESET_SLOTS, RESTART, SESSION_STARTED, PAUSE, RESUME,
    REWIND, UNDO, REMINDER, CANCEL_REMINDER, LOOP_INTERRUPTED, ACTION_EXECUTION_REJECTED, AGENT, EXPORT,
    ENTITIES, USER_FEATURIZATION, ACTION_ERROR, HANDOFF,
}
_REQUIRED = {
    SLOT: ("name",),
    ACTION: ("name",),
    ACTIVE_LOOP: (),
    FOLLOWUP: ("name",),
    ACTION_EXECUTION_REJECTED: ("name",),
    REMINDER: ("intent",),
}


def _now(timestamp: float | None) -> float:
    return time.time() if timestamp is None else timestamp


def UserUttered(  # noqa: N802 - Rasa's event names
    text: str | None,
    parse_data: dict[str, Any] | None = None,
    input_channel: str | None = None,
    message_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> EventDict:
    parse_data = parse_data or {}
    return {
        "event": USER,
        "timestamp": _now(timestamp),
        "text": text,
        "parse_data": parse_data,
        "input_channel": input_channel,
        "message_id": message_id,
        "metadata": metadata or {},
    }


def BotUttered(  # noqa: N802
    text: str | None = None, data: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
    timestamp: float | None = None,
) -> EventDict:
    return {"event": BOT, "timestamp": _now(timestamp), "text": text, "data": data or {}, "metadata": metadata or {}}


def ActionExecuted(  # noqa: N802
    name: str, policy: str | None = None, confidence: float | None = None, timestamp: float | None = None,
) -> EventDict:
    return {"event": ACTION, "timestamp": _now(timestamp), "name": name, "policy": policy, "confidence": confidence}


def SlotSet(name: str, value: Any = None, timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": SLOT, "timestamp": _now(timestamp), "name": name, "value": value}


def ActiveLoop(name: str | None, timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": ACTIVE_LOOP, "timestamp": _now(timestamp), "name": name}


def FollowupAction(name: str, timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": FOLLOWUP, "timestamp": _now(timestamp), "name": name}


def AllSlotsReset(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": RESET_SLOTS, "timestamp": _now(timestamp)}


def Restarted(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": RESTART, "timestamp": _now(timestamp)}


def SessionStarted(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": SESSION_STARTED, "timestamp": _now(timestamp)}


def ConversationPaused(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": PAUSE, "timestamp": _now(timestamp)}


def ConversationResumed(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": RESUME, "timestamp": _now(timestamp)}


def UserUtteranceReverted(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": REWIND, "timestamp": _now(timestamp)}


def ActionReverted(timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": UNDO, "timestamp": _now(timestamp)}


def LoopInterrupted(is_interrupted: bool, timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": LOOP_INTERRUPTED, "timestamp": _now(timestamp), "is_interrupted": is_interrupted}


def ActionExecutionRejected(  # noqa: N802
    name: str, policy: str | None = None, confidence: float | None = None, timestamp: float | None = None,
) -> EventDict:
    return {"event": ACTION_EXECUTION_REJECTED, "timestamp": _now(timestamp), "name": name, "policy": policy,
            "confidence": confidence}


def ReminderScheduled(  # noqa: N802
    intent: str, trigger_date_time: str, entities: list[dict[str, Any]] | None = None, name: str | None = None,
    kill_on_user_message: bool = True, timestamp: float | None = None,
) -> EventDict:
    return {"event": REMINDER, "timestamp": _now(timestamp), "intent": intent, "entities": entities,
            "date_time": trigger_date_time, "name": name, "kill_on_user_msg": kill_on_user_message}


def ReminderCancelled(name: str | None = None, intent: str | None = None, timestamp: float | None = None) -> EventDict:  # noqa: N802
    return {"event": CANCEL_REMINDER, "timestamp": _now(timestamp), "name": name, "intent": intent}


def ActionError(name: str, message: str, timestamp: float | None = None) -> EventDict:  # noqa: N802
    """Kefu's record of an action that could not run (dead action server, timeout, bad reply)."""
    return {"event": ACTION_ERROR, "timestamp": _now(timestamp), "name": name, "message": message}


def HandedOff(reason: str, timestamp: float | None = None) -> EventDict:  # noqa: N802
    """Kefu's record that the conversation now waits for a human agent."""
    return {"event": HANDOFF, "timestamp": _now(timestamp), "reason": reason}


# Optional keys of events from outside and the JSON types they may hold besides null (Rasa's event schema,
# rasa/shared/utils/schemas/events.py): what the tracker, the policies and the story export read.
_STRING, _NUMBER, _OBJECT, _LIST, _BOOL = "a string", "a number", "a JSON object", "a list", "true or false"
_FIELDS: dict[str, dict[str, str]] = {
    USER: {"text": _STRING, "parse_data": _OBJECT, "input_channel": _STRING, "message_id": _STRING,
           "metadata": _OBJECT},
    BOT: {"text": _STRING, "data": _OBJECT, "metadata": _OBJECT},
    ACTION: {"policy": _STRING, "confidence": _NUMBER, "action_text": _STRING, "hide_rule_turn": _BOOL},
    ACTIVE_LOOP: {"name": _STRING},
    ACTION_EXECUTION_REJECTED: {"policy": _STRING, "confidence": _NUMBER},
    REMINDER: {"name": _STRING, "date_time": _STRING, "kill_on_user_msg": _BOOL},
    CANCEL_REMINDER: {"name": _STRING, "intent": _STRING},
    LOOP_INTERRUPTED: {"is_interrupted": _BOOL},
    ENTITIES: {"entities": _LIST},
    AGENT: {"text": _STRING, "data": _OBJECT},
    ACTION_ERROR: {"name": _STRING, "message": _STRING},
    HANDOFF: {"reason": _STRING},
}
_TYPE_CHECKS = {
    _STRING: lambda v: isinstance(v, str),
    _NUMBER: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    _OBJECT: lambda v: isinstance(v, dict),
    _LIST: lambda v: isinstance(v, list),
    _BOOL: lambda v: isinstance(v, bool),
}


def _wrong_type(value: Any, kind: str, where: str) -> str | None:
    if value is None or _TYPE_CHECKS[kind](value):
        return None
    return f"{where} must be {kind} or null, not {type(value).__name__}"


def check_entities(entities: Any, where: str) -> str | None:
    """Return what is wrong with a list of entities (``[{"entity": ..., "value": ...}, ...]``), or None."""
    if entities is None:
        return None
    if not isinstance(entities, list):
        return f"{where} must be a list of entities, not {type(entities).__name__}"
    for index, entity in enumerate(entities):
        if not isinstance(entity, dict) or not isinstance(entity.get("entity"), str):
            return f"{where}[{index}] must be a JSON object with an 'entity' string"
        for key in ("role", "group", "extractor"):
            problem = _wrong_type(entity.get(key), _STRING, f"{where}[{index}].{key}")
            if problem:
                return problem
    return None


def _check_intent(intent: Any, where: str) -> str | None:
    if intent is None:
        return None
    if not isinstance(intent, dict):
        return f"{where} must be a JSON object with 'name' and 'confidence', not {type(intent).__name__}"
    return _wrong_type(intent.get("name"), _STRING, f"{where}.name") or _wrong_type(
        intent.get("confidence"), _NUMBER, f"{where}.confidence")


def check_parse_data(parse_data: Any, where: str = "parse_data") -> str | None:
    """Return what is wrong with a parse result in Rasa's ``/model/parse`` shape, or None."""
    if parse_data is None:
        return None
    if not isinstance(parse_data, dict):
        return f"{where} must be a JSON object, not {type(parse_data).__name__}"
    problem = (_wrong_type(parse_data.get("text"), _STRING, f"{where}.text")
               or _check_intent(parse_data.get("intent"), f"{where}.intent")
               or check_entities(parse_data.get("entities"), f"{where}.entities"))
    if problem:
        return problem
    ranking = parse_data.get("intent_ranking")
    if ranking is not None and not isinstance(ranking, list):
        return f"{where}.intent_ranking must be a list, not {type(ranking).__name__}"
    for index, intent in enumerate(ranking or []):
        problem = _check_intent(intent, f"{where}.intent_ranking[{index}]")
        if problem:
            return problem
    return None


def check_event(event: Any, index: int | None = None) -> str | None:
    """Return a message naming the problem with an event that came from outside, or None."""
    where = "event" if index is None else f"events[{index}]"
    if not isinstance(event, dict):
        return f"{where} must be a JSON object with an 'event' key"
    name = event.get("event")
    if not isinstance(name, str):
        return f"{where}.event is missing (one of {', '.join(sorted(EVENT_NAMES))})"
    if name not in EVENT_NAMES:
        return f"{where}.event '{name}' is not a known event (one of {', '.join(sorted(EVENT_NAMES))})"
    for key in _REQUIRED.get(name, ()):
        if not isinstance(event.get(key), str):
            return f"{where}.{key} is required for a '{name}' event and must be a string"
    ts = event.get("timestamp")
    if ts is not None and (not isinstance(ts, (int, float)) or isinstance(ts, bool)):
        return f"{where}.timestamp must be a number (seconds since the epoch)"
    for key, kind in _FIELDS.get(name, {}).items():
        problem = _wrong_type(event.get(key), kind, f"{where}.{key}")
        if problem:
            return problem
    if name == USER:
        return check_parse_data(event.get("parse_data"), f"{where}.parse_data")
    if name == ENTITIES:
        return check_entities(event.get("entities"), f"{where}.entities")
    return None


def with_timestamp(event: EventDict) -> EventDict:
    """A copy of ``event`` with a timestamp filled in when it has none."""
    event = dict(event)
    if event.get("timestamp") is None:
        event["timestamp"] = time.time()
    return event
