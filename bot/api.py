"""Rasa's HTTP server API (``kefu run --enable-api``) plus Kefu's handoff queue.

Handlers only decode the request, call the processor and encode the answer.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot import events as ev
from bot.agent import Agent
from bot.app_keys import PROCESSOR, SETTINGS
from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.errors import KefuError
from bot.explain import explain_intent, no_explanation
from bot.openapi import openapi_spec
from bot.privacy.forget import forget_sender, history_stores_of
from bot.privacy.pii import PiiMasker
from bot.story_export import tracker_to_story_yaml
from bot.tracker import EVENT_VERBOSITY, INCLUDE_AFTER_RESTART, DialogueStateTracker
from bot.web_utils import (
    KEFU_VERSION,
    RASA_COMPATIBLE_VERSION,
    RequestError,
    get_dict,
    get_str,
    read_json,
    read_json_object,
)

logger = logging.getLogger(__name__)


def _verbosity(request: web.Request) -> str:
    value = request.query.get("include_events", INCLUDE_AFTER_RESTART).upper()
    if value not in EVENT_VERBOSITY:
        raise RequestError("include_events", f"'include_events' must be one of {', '.join(EVENT_VERBOSITY)}")
    return value


def _until(request: web.Request) -> float | None:
    raw = request.query.get("until")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise RequestError("until", "'until' must be a timestamp (seconds since the epoch)") from exc


def _state(tracker: DialogueStateTracker, request: web.Request) -> dict[str, Any]:
    return tracker.current_state(_verbosity(request))


async def _tracker_or_new(request: web.Request) -> DialogueStateTracker:
    processor = request.config_dict[PROCESSOR]
    conversation_id = request.match_info["conversation_id"]
    tracker = await processor.get_tracker(conversation_id)
    return tracker if tracker is not None else processor.new_tracker(conversation_id)


# -- basics ------------------------------------------------------------------------------------------
async def hello(request: web.Request) -> web.Response:
    return web.Response(text=f"Hello from Kefu: {KEFU_VERSION}")


async def get_version(request: web.Request) -> web.Response:
    return web.json_response({"version": KEFU_VERSION, "minimum_compatible_version": KEFU_VERSION,
                              "rasa_compatible_version": RASA_COMPATIBLE_VERSION})


async def get_status(request: web.Request) -> web.Response:
    processor = request.config_dict[PROCESSOR]
    agent = processor.agent
    return web.json_response({
        "model_file": agent.model_path,
        "model_id": agent.model_id,
        "num_active_training_jobs": 0,
        "tracker_store": _describe(processor.tracker_store),
        "lock_store": _describe(processor.lock_store),
        "action_endpoint": processor.action_client.endpoint.url if processor.action_client else None,
        "nlu_batching": processor.nlu_batcher.stats() if processor.nlu_batcher else None,
    })


def _describe(store: Any) -> str:
    describe = getattr(store, "describe", None)
    return describe() if callable(describe) else type(store).__name__


async def get_domain(request: web.Request) -> web.Response:
    domain = request.config_dict[PROCESSOR].domain.as_dict()
    accept = request.headers.get("Accept", "application/json")
    if "yaml" in accept or "yml" in accept:
        return web.Response(text=yaml.safe_dump(domain, sort_keys=False, allow_unicode=True),
                            content_type="application/x-yml")
    return web.json_response(domain)


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec(KEFU_VERSION))


# -- model -------------------------------------------------------------------------------------------
async def parse(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    text = get_str(body, "text", max_chars=request.config_dict[SETTINGS].max_message_chars)
    processor = request.config_dict[PROCESSOR]
    result = await processor.parse_message(text)
    message_id = get_str(body, "message_id", required=False)
    if message_id:
        result["message_id"] = message_id
    if request.query.get("explain", "false").lower() in ("true", "1", "yes"):
        interpreter = processor.agent.interpreter
        if interpreter is None:
            result["explanation"] = no_explanation(result, "no NLU model is loaded")
        else:
            result["explanation"] = await asyncio.to_thread(explain_intent, interpreter.parse, text, dict(result),
                                                            parse_batch=getattr(interpreter, "parse_batch", None))
    return web.json_response(result)


async def replace_model(request: web.Request) -> web.Response:
    """Hot swap: load the new model, then switch; conversations and in-flight turns go on."""
    body = await read_json_object(request)
    path = get_str(body, "model_file")
    assert path is not None
    try:
        exists = Path(path).exists()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte, ...
        raise RequestError("model_file", f"'{path:.200}' is not a usable path: {exc}") from exc
    if not exists:
        raise RequestError("model_file", f"no model at '{path:.200}'")
    try:
        agent: Agent = await asyncio.to_thread(Agent.load, path)
    except (KefuError, OSError) as exc:  # OSError: a folder or file Kefu may not read
        raise RequestError("model_file", f"cannot load the model at '{path}': {exc}") from exc
    processor = request.config_dict[PROCESSOR]
    processor.agent = agent
    set_domain = getattr(processor.tracker_store, "set_domain", None)
    if callable(set_domain):
        set_domain(agent.domain)
    logger.info("model replaced by %s", path)
    return web.Response(status=204)


# -- conversations -----------------------------------------------------------------------------------
async def list_conversations(request: web.Request) -> web.Response:
    processor = request.config_dict[PROCESSOR]
    if request.query.get("handoff", "").lower() in ("true", "1", "yes"):
        return web.json_response(await processor.handoff_queue())
    keys = await processor.tracker_store.keys()
    return web.json_response([{"sender_id": key} for key in sorted(keys)])


async def get_tracker(request: web.Request) -> web.Response:
    tracker = await _tracker_or_new(request)
    until = _until(request)
    if until is not None:
        tracker = DialogueStateTracker(tracker.sender_id, tracker.slot_defaults,
                                       [e for e in tracker.events if (e.get("timestamp") or 0) <= until])
    return web.json_response(_state(tracker, request))


async def add_message(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    settings = request.config_dict[SETTINGS]
    text = get_str(body, "text", max_chars=settings.max_message_chars)
    sender = get_str(body, "sender", required=False) or "user"
    if sender != "user":
        raise RequestError("sender", f"only user messages can be added here; 'sender' is '{sender}', expected 'user'")
    parse_data = get_dict(body, "parse_data")
    problem = ev.check_parse_data(parse_data)
    if problem:
        raise RequestError(problem.split(" ", 1)[0], problem)
    message = UserMessage(text, request.match_info["conversation_id"], input_channel=get_str(
        body, "input_channel", required=False) or "rest", metadata=get_dict(body, "metadata") or {},
        parse_data=parse_data)
    tracker = await request.config_dict[PROCESSOR].log_message(message)
    return web.json_response(_state(tracker, request))


async def trigger_intent(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    name = get_str(body, "name")
    assert name is not None
    entities = body.get("entities")
    if entities is not None and not isinstance(entities, (dict, list)):
        raise RequestError("entities", "'entities' must be an object (entity → value) or a list")
    problem = ev.check_entities(entities, "entities") if isinstance(entities, list) else None
    if problem:
        raise RequestError("entities", problem)
    processor = request.config_dict[PROCESSOR]
    if name not in processor.domain.all_intents:
        raise RequestError("name", f"the intent '{name}' does not exist in the domain", status=404, reason="NotFound")
    channel = CollectingOutputChannel()
    tracker = await processor.trigger_intent(request.match_info["conversation_id"], name, entities, channel)
    return web.json_response({"tracker": _state(tracker, request), "messages": channel.messages})


async def predict(request: web.Request) -> web.Response:
    processor = request.config_dict[PROCESSOR]
    tracker = await _tracker_or_new(request)
    agent = processor.agent
    if agent.policy is None:
        raise RequestError(None, "no dialogue model is loaded", status=409, reason="Conflict")
    prediction = agent.policy.predict(tracker, agent.domain)
    probabilities = getattr(prediction, "probabilities", None) or []
    scores = [{"action": name, "score": score} for name, score in zip(agent.domain.action_names, probabilities,
                                                                       strict=False)]
    scores.sort(key=lambda item: item["score"], reverse=True)
    return web.json_response({"scores": scores, "policy": getattr(prediction, "policy_name", None),
                              "confidence": getattr(prediction, "confidence", None),
                              "tracker": _state(tracker, request)})


async def _events_from_body(request: web.Request) -> list[dict[str, Any]]:
    body = await read_json(request)
    events = body if isinstance(body, list) else [body]
    for index, event in enumerate(events):
        problem = ev.check_event(event, index if isinstance(body, list) else None)
        if problem:
            raise RequestError(problem.split(" ", 1)[0], problem)
    return events


async def append_events(request: web.Request) -> web.Response:
    events = await _events_from_body(request)
    tracker = await request.config_dict[PROCESSOR].append_events(request.match_info["conversation_id"], events)
    return web.json_response(_state(tracker, request))


async def replace_events(request: web.Request) -> web.Response:
    events = await _events_from_body(request)
    tracker = await request.config_dict[PROCESSOR].append_events(
        request.match_info["conversation_id"], events, replace=True)
    return web.json_response(_state(tracker, request))


async def get_story(request: web.Request) -> web.Response:
    tracker = await _tracker_or_new(request)
    privacy = request.config_dict[SETTINGS].privacy
    masker = PiiMasker(privacy) if privacy.mask else None
    return web.Response(text=tracker_to_story_yaml(tracker, masker), content_type="text/yml")


async def delete_conversation(request: web.Request) -> web.Response:
    """Erase the conversation from the tracker store and its lock (the right to be forgotten), audited."""
    conversation_id = request.match_info["conversation_id"]
    processor = request.config_dict[PROCESSOR]
    privacy = request.config_dict[SETTINGS].privacy
    report = await forget_sender(conversation_id, processor.tracker_store, processor.lock_store,
                                 history_stores_of(privacy.recommender_url), privacy.audit_log)
    if not report.found:
        raise RequestError(None, f"conversation '{conversation_id}' does not exist", status=404, reason="NotFound")
    return web.json_response({"sender_id": conversation_id, "deleted": True, "stores": report.stores})


async def resume(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    tracker = await request.config_dict[PROCESSOR].resume(conversation_id)
    if tracker is None:
        raise RequestError(None, f"conversation '{conversation_id}' does not exist", status=404, reason="NotFound")
    return web.json_response(_state(tracker, request))


def api_routes() -> list[web.RouteDef]:
    """The server API's route table."""
    conv = "/conversations/{conversation_id}"
    return [
        web.get("/status", get_status),
        web.get("/domain", get_domain),
        web.post("/model/parse", parse),
        web.put("/model", replace_model),
        web.get("/conversations", list_conversations),
        web.get(f"{conv}/tracker", get_tracker),
        web.post(f"{conv}/messages", add_message),
        web.post(f"{conv}/trigger_intent", trigger_intent),
        web.post(f"{conv}/predict", predict),
        web.post(f"{conv}/tracker/events", append_events),
        web.put(f"{conv}/tracker/events", replace_events),
        web.get(f"{conv}/story", get_story),
        web.delete(conv, delete_conversation),
        web.post(f"{conv}/resume", resume),
    ]


def public_routes() -> list[web.RouteDef]:
    return [web.get("/", hello), web.get("/version", get_version), web.get("/openapi.json", get_openapi)]
