"""The OpenAPI 3 description of Kefu's HTTP interfaces (``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

from bot.web_utils import PUBLIC_PATHS, PUBLIC_PREFIXES

_CONV = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "The conversation (sender) id"}
_INCLUDE = {"name": "include_events", "in": "query", "schema": {
    "type": "string", "enum": ["ALL", "APPLIED", "AFTER_RESTART", "NONE"], "default": "AFTER_RESTART"}}
_TOKEN = {"name": "token", "in": "query", "schema": {"type": "string"}, "description": "the --auth-token"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Bad request: the body or a parameter is wrong (names the field)"),
    "401": _json(_ref("Error"), "Not authenticated"),
    "403": _json(_ref("Error"), "Not authorized for this resource"),
    "503": _json(_ref("Error"), "A tracker or lock store is unavailable"),
}


def _op(summary: str, responses: dict[str, Any], params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, tag: str = "Server") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "parameters": [_TOKEN, *(params or [])],
                          "responses": {**responses, **_ERRORS}}
    if body is not None:
        op["requestBody"] = _body(body)
    return op


def openapi_spec(version: str) -> dict[str, Any]:
    """Every route Kefu serves, with its request and response shapes."""
    tracker = _ref("Tracker")
    conv = "/conversations/{conversation_id}"
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Hello", "tags": ["Server"],
                      "responses": {"200": {"description": "Hello text", "content": {"text/plain": {}}}}}},
        "/version": {"get": {"summary": "Kefu version and the Rasa version whose API it speaks", "tags": ["Server"],
                             "responses": {"200": _json({"type": "object"})}}},
        "/openapi.json": {"get": {"summary": "This document", "tags": ["Server"],
                                  "responses": {"200": _json({"type": "object"})}}},
        "/status": {"get": _op("Loaded model and stores", {"200": _json({"type": "object", "properties": {
            "model_file": {"type": "string", "nullable": True}, "model_id": {"type": "string", "nullable": True},
            "num_active_training_jobs": {"type": "integer"}}})})},
        "/domain": {"get": _op("The domain (JSON, or YAML with Accept: application/yaml)",
                               {"200": _json({"type": "object"})})},
        "/model/parse": {"post": _op("Parse a message with the NLU model", {"200": _json(_ref("ParseResult"))},
                                     body={"type": "object", "required": ["text"], "properties": {
                                         "text": {"type": "string"}, "message_id": {"type": "string"}}},
                                     tag="Model")},
        "/model": {"put": _op("Replace the loaded model (hot swap; conversations continue)",
                              {"204": {"description": "Model replaced"}},
                              body={"type": "object", "required": ["model_file"],
                                    "properties": {"model_file": {"type": "string"}}}, tag="Model")},
        "/conversations": {"get": _op("List conversations; ?handoff=true lists the human handoff queue", {
            "200": _json({"type": "array", "items": _ref("HandoffEntry")})},
            params=[{"name": "handoff", "in": "query", "schema": {"type": "boolean"}}], tag="Tracker")},
        f"{conv}/tracker": {"get": _op("A conversation's tracker", {"200": _json(tracker)}, params=[
            _CONV, _INCLUDE, {"name": "until", "in": "query", "schema": {"type": "number"}}], tag="Tracker")},
        f"{conv}/messages": {"post": _op("Add a user message without predicting", {"200": _json(tracker)},
                                         params=[_CONV, _INCLUDE], body={"type": "object", "required": ["text"],
                                         "properties": {"text": {"type": "string"},
                                                        "sender": {"type": "string", "enum": ["user"]},
                                                        "parse_data": _ref("ParseResult"),
                                                        "metadata": {"type": "object"}}}, tag="Tracker")},
        f"{conv}/trigger_intent": {"post": _op("Run the bot as if the user had sent an intent", {
            "200": _json({"type": "object", "properties": {"tracker": tracker, "messages": {
                "type": "array", "items": _ref("BotMessage")}}}),
            "404": _json(_ref("Error"), "Unknown intent")}, params=[_CONV, _INCLUDE],
            body={"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"}, "entities": {"type": "object"}}}, tag="Tracker")},
        f"{conv}/predict": {"post": _op("Score the next action without running it", {
            "200": _json({"type": "object"})}, params=[_CONV, _INCLUDE], tag="Tracker")},
        f"{conv}/tracker/events": {
            "post": _op("Append events", {"200": _json(tracker)}, params=[_CONV, _INCLUDE],
                        body={"oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event")}]}, tag="Tracker"),
            "put": _op("Replace all events", {"200": _json(tracker)}, params=[_CONV, _INCLUDE],
                       body={"type": "array", "items": _ref("Event")}, tag="Tracker"),
        },
        f"{conv}/story": {"get": _op("The conversation as a YAML story", {
            "200": {"description": "YAML", "content": {"text/yml": {}}}}, params=[_CONV], tag="Tracker")},
        conv: {"delete": _op("Delete a conversation", {"200": _json({"type": "object"}),
                                                       "404": _json(_ref("Error"), "Unknown conversation")},
                             params=[_CONV], tag="Tracker")},
        f"{conv}/resume": {"post": _op("Hand a paused (handed-off) conversation back to the bot", {
            "200": _json(tracker), "404": _json(_ref("Error"), "Unknown conversation")}, params=[_CONV, _INCLUDE],
            tag="Handoff")},
        "/webhooks/rest/": {"get": {"summary": "REST channel health", "tags": ["REST channel"],
                                    "responses": {"200": _json({"type": "object"})}}},
        "/webhooks/rest/webhook": {"post": {
            "summary": "Send a message; the bot's replies come back (?stream=true: one JSON line each)",
            "tags": ["REST channel"],
            "parameters": [{"name": "stream", "in": "query", "schema": {"type": "boolean"}}],
            "requestBody": _body({"type": "object", "required": ["sender", "message"], "properties": {
                "sender": {"type": "string"}, "message": {"type": "string"}, "metadata": {"type": "object"}}}),
            "responses": {"200": {**_json({"type": "array", "items": _ref("BotMessage")}), "headers": {
                              "Server-Timing": {"description": "where the turn's time went, in ms (nlu-wait, nlu, "
                                                "lock, tracker, policy, actions, save, total); not on streams",
                                                "schema": {"type": "string"}}}},
                          "400": _ERRORS["400"], "503": _ERRORS["503"]},
        }},
    }
    schemas = {
        "Error": {"type": "object", "properties": {
            "version": {"type": "string"}, "status": {"type": "string"}, "message": {"type": "string"},
            "error": {"type": "string"}, "reason": {"type": "string"}, "field": {"type": "string"},
            "details": {"type": "object"}, "code": {"type": "integer"}}},
        "Event": {"type": "object", "required": ["event"], "properties": {
            "event": {"type": "string"}, "timestamp": {"type": "number"}}, "additionalProperties": True},
        "Tracker": {"type": "object", "properties": {
            "sender_id": {"type": "string"}, "slots": {"type": "object"}, "latest_message": _ref("ParseResult"),
            "latest_event_time": {"type": "number"}, "followup_action": {"type": "string", "nullable": True},
            "paused": {"type": "boolean"}, "events": {"type": "array", "items": _ref("Event"), "nullable": True},
            "latest_input_channel": {"type": "string", "nullable": True}, "active_loop": {"type": "object"},
            "latest_action": {"type": "object"}, "latest_action_name": {"type": "string", "nullable": True}}},
        "ParseResult": {"type": "object", "properties": {
            "text": {"type": "string"},
            "intent": {"type": "object", "properties": {"name": {"type": "string"}, "confidence": {"type": "number"}}},
            "intent_ranking": {"type": "array", "items": {"type": "object"}},
            "entities": {"type": "array", "items": {"type": "object"}},
            "sentiment": {"type": "object", "properties": {"label": {"type": "string"},
                                                           "confidence": {"type": "number"},
                                                           "scores": {"type": "object"}}}}},
        "BotMessage": {"type": "object", "properties": {
            "recipient_id": {"type": "string"}, "text": {"type": "string"}, "buttons": {"type": "array"},
            "image": {"type": "string"}, "custom": {"type": "object"}, "attachment": {}}},
        "HandoffEntry": {"type": "object", "properties": {
            "sender_id": {"type": "string"}, "reason": {"type": "string"}, "since": {"type": "number"},
            "latest_message": {"type": "string", "nullable": True}, "sentiment": {"type": "string", "nullable": True}}},
    }
    for path, operations in paths.items():  # open to anyone even with auth on: hello, version, this spec, channels
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            for operation in operations.values():
                operation["security"] = []
    return {
        "openapi": "3.0.3",
        "info": {"title": "Kefu HTTP API", "version": version,
                 "description": "Rasa-compatible server API, REST channel and Kefu's human handoff queue."},
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "apiKey", "in": "query", "name": "token"},
            "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256)"}}},
        "security": [{"token": []}, {"jwt": []}],
        "paths": paths,
    }
