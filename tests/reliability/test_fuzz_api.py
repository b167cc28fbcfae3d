"""Fuzzing Kefu's HTTP interface from its own ``/openapi.json``: no request may get a response >= 500.

Hypothesis draws requests for every operation the served OpenAPI document lists (the REST webhook, with and
without ``?stream=true``, and the whole server API): bodies that follow the schema, bodies where any field
may hold any JSON value, arbitrary JSON, raw bytes; path and query parameters likewise; a right, wrong or
missing token or JWT. Event bodies use Kefu's real event names and keys (the schema only says "an object
with an ``event`` string"), and messages include ``/intent{...}`` payloads, so the requests get past the
first checks and reach the turn loop and the tracker. Each case is a short sequence of requests on one
conversation of its own, so later requests meet the state the earlier ones left, and a failure replays the
same way when Hypothesis shrinks it.

The server is the real app (``create_app``) with a trained model, in process (``aiohttp_client``), for speed.
Every failure answer must also be Kefu's JSON error shape. ``KEFU_FUZZ_CASES`` sets the number of cases
(default 300); ``KEFU_FUZZ_SEED`` fixes the random seed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bot.events import EVENT_NAMES
from bot.server import Settings, create_app

FUZZ_CASES = int(os.environ.get("KEFU_FUZZ_CASES", "300"))
FUZZ_SEED = os.environ.get("KEFU_FUZZ_SEED")
TOKEN = "fuzz-token"
INTENTS = ["greet", "check_order", "slow_check", "wait_reply", "restart", "session_start", "nlu_fallback"]
ACTIONS = ["utter_greet", "action_check_order", "action_listen", "action_restart", "action_session_start",
           "action_kefu_handoff", "action_default_fallback"]
EVENT_KEYS = ["name", "value", "text", "parse_data", "timestamp", "policy", "confidence", "input_channel",
              "message_id", "metadata", "data", "intent", "entities", "date_time", "kill_on_user_msg", "reason",
              "is_interrupted", "message", "action_text", "hide_rule_turn", "is_rule"]


# -- strategies ----------------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
intent_names = st.sampled_from(INTENTS) | st.text(max_size=12)
payload_texts = st.builds(
    lambda intent, entities, tail: f"/{intent}{entities}{tail}",
    intent_names,
    st.just("") | json_values.map(lambda v: json.dumps(v, allow_nan=True)) | st.text(max_size=10),
    st.just("") | st.sampled_from(["@0.7", "@x", "{", "}", "@"]),
)
message_texts = payload_texts | st.text(max_size=60)
parse_data = st.fixed_dictionaries({}, optional={
    "intent": st.fixed_dictionaries({"name": intent_names, "confidence": json_values}) | json_values,
    "entities": st.lists(st.fixed_dictionaries({"entity": st.text(max_size=8), "value": json_values},
                                               optional={"start": json_values, "role": json_values})
                         | json_values, max_size=3) | json_values,
    "text": message_texts | json_values,
    "intent_ranking": json_values,
})
event_values = {
    "name": st.sampled_from(ACTIONS + INTENTS + ["requested_slot", "session_started_metadata"]) | json_values,
    "parse_data": parse_data | json_values,
    "text": message_texts | json_values,
    "timestamp": st.floats(allow_nan=False) | st.integers() | json_values,
}
events = st.builds(
    lambda name, fields: {"event": name, **fields},
    st.sampled_from(sorted(EVENT_NAMES)) | st.text(max_size=10) | json_values,
    st.dictionaries(st.sampled_from(EVENT_KEYS), json_values, max_size=5).flatmap(
        lambda base: st.fixed_dictionaries({k: event_values.get(k, json_values) for k in base})),
)
conversation_ids = st.sampled_from(["c1", "shopper"]) | st.text(max_size=20)


def schema_strategy(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that follow an OpenAPI 3.0 schema, each field also open to any JSON value (the server must cope)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name == "Event":
            return events
        if name == "ParseResult":
            return parse_data
        return schema_strategy(spec["components"]["schemas"][name], spec, depth + 1)
    if "oneOf" in schema:
        return st.one_of([schema_strategy(s, spec, depth + 1) for s in schema["oneOf"]])
    if "enum" in schema:
        strategy: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif schema.get("type") == "object" and depth < 4:
        properties = {k: schema_strategy(v, spec, depth + 1) | json_values
                      for k, v in schema.get("properties", {}).items()}
        required = {k: properties.pop(k) for k in schema.get("required", []) if k in properties}
        strategy = st.fixed_dictionaries(required, optional=properties)
        if not schema.get("properties") or schema.get("additionalProperties"):
            strategy = st.builds(lambda a, b: {**b, **a}, strategy,
                                 st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    elif schema.get("type") == "array" and depth < 4:
        strategy = st.lists(schema_strategy(schema.get("items", {}), spec, depth + 1), max_size=4)
    elif schema.get("type") == "string":
        strategy = message_texts
    elif schema.get("type") == "number":
        strategy = st.floats() | st.integers()
    elif schema.get("type") == "integer":
        strategy = st.integers()
    elif schema.get("type") == "boolean":
        strategy = st.booleans()
    else:
        strategy = json_values
    return strategy | st.none() if schema.get("nullable") else strategy


def body_strategy(operation: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    """The request body: schema-shaped JSON mostly, else any JSON, raw bytes or nothing."""
    content = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
    wrong = (json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()) | st.binary(max_size=64)
             | st.sampled_from([b"", b"{", b"[]", b"null", b'{"sender": "a", "message": "x"']))
    if content is None:
        return st.none() | wrong
    shaped = schema_strategy(content["schema"], spec).map(lambda v: json.dumps(v, allow_nan=True).encode())
    return st.one_of(shaped, shaped, shaped, wrong)


def query_strategy(operation: dict[str, Any], spec: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    params = {}
    for param in operation.get("parameters", []):
        if param.get("in") != "query" or param["name"] == "token":
            continue
        schema = param.get("schema", {})
        value = (st.sampled_from([str(v) for v in schema["enum"]]) if "enum" in schema
                 else st.sampled_from(["true", "false", "1"]) if schema.get("type") == "boolean"
                 else st.floats(allow_nan=True).map(str) if schema.get("type") == "number"
                 else st.text(max_size=10))
        params[param["name"]] = value | st.text(max_size=10)
    return st.fixed_dictionaries({}, optional=params)


credentials = st.sampled_from(["token"] * 9 + ["none", "wrong", "bearer"])
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)  # what HTTP can carry
bearer_values = (st.sampled_from(["Bearer ", "Bearer a.b.c", "Bearer e30.e30.", "Basic abc"])
                 | header_text.map(lambda t: "Bearer " + t) | header_text)


@dataclass
class FuzzRequest:
    method: str
    path: str
    query: dict[str, str]
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    def on(self, conversation: str) -> FuzzRequest:
        """This request for the case's own conversation."""
        path = self.path.replace("{conversation_id}", quote(conversation, safe=""))
        return FuzzRequest(self.method, path, self.query, self.body, self.headers)

    def __str__(self) -> str:
        return f"{self.method} {self.path} ?{self.query} headers={self.headers} body={self.body!r}"[:2000]


def request_strategy(spec: dict[str, Any]) -> st.SearchStrategy[FuzzRequest]:
    operations = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            operations.append(st.builds(
                lambda query, body, cred, bearer, accept, p=path, m=method: _request(
                    m, p, query, body, cred, bearer, accept),
                query_strategy(operation, spec), body_strategy(operation, spec),
                credentials, bearer_values, st.sampled_from(["application/json", "application/yaml", "*/*"]),
            ))
    return st.one_of(operations)


def _request(method: str, path: str, query: dict[str, str], body: bytes | None,
             credential: str, bearer: str, accept: str) -> FuzzRequest:
    query = dict(query)
    headers = {"Content-Type": "application/json", "Accept": accept}
    if credential == "token":
        query["token"] = TOKEN
    elif credential == "wrong":
        query["token"] = TOKEN + "x"
    elif credential == "bearer":
        headers["Authorization"] = bearer
    return FuzzRequest(method.upper(), path, query, body, headers)


# -- the test --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


async def send(client: Any, request: FuzzRequest) -> tuple[int, str | None]:
    """Send one request; returns its status and what is wrong with the answer (None: nothing)."""
    async with client.request(request.method, request.path, params=request.query, data=request.body,
                              headers=request.headers) as response:
        raw = await response.read()
    if response.status >= 500:
        return response.status, f"HTTP {response.status}: {raw[:500]!r}"
    if response.status >= 400:
        try:
            body = json.loads(raw)
        except ValueError:
            return response.status, f"HTTP {response.status} without a JSON body: {raw[:300]!r}"
        if not (isinstance(body, dict) and body.get("status") == "failure" and body.get("error")):
            return response.status, f"HTTP {response.status} not in Kefu's error shape: {body!r:.300}"
    if request.query.get("stream") and response.status == 200 and response.content_type == "text/event-stream":
        for line in raw.splitlines():  # a failure after the headers went out is reported in the stream
            if "error" in json.loads(line):
                return 200, f"streamed turn failed: {line[:300]!r}"
    return response.status, None


async def test_fuzzed_requests_never_get_a_5xx(aiohttp_client: Any, trained_project: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # PUT /model with a relative path must not find a real model folder
    app = create_app(Settings(model_path=str(trained_project / "models"), enable_api=True, auth_token=TOKEN))
    client = await aiohttp_client(app)
    spec = await (await client.get("/openapi.json")).json()
    assert "/webhooks/rest/webhook" in spec["paths"] and "/conversations/{conversation_id}/tracker/events" in spec["paths"]
    loop = asyncio.get_running_loop()
    tally = Tally()

    @settings(max_examples=FUZZ_CASES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(conversation=conversation_ids, requests=st.lists(request_strategy(spec), min_size=1, max_size=6))
    def case(conversation: str, requests: list[FuzzRequest]) -> None:
        tally.cases += 1
        conversation = f"{tally.cases}-{conversation}"  # every run of a case starts from a new conversation
        for index, request in enumerate(r.on(conversation) for r in requests):
            status, problem = asyncio.run_coroutine_threadsafe(send(client, request), loop).result(timeout=60)
            tally.requests += 1
            tally.statuses[status] += 1
            if problem:
                tally.failures.append(f"{problem}\n  for request {index + 1} of {len(requests)}: {request}")
            assert problem is None, f"{problem}\n  for request {index + 1} of {len(requests)}: {request}"

    if FUZZ_SEED is not None:
        case = seed(int(FUZZ_SEED))(case)
    started = time.monotonic()
    await asyncio.to_thread(case)  # Hypothesis runs in a worker thread; the requests run on this loop
    seconds = time.monotonic() - started
    print(f"fuzz: {tally.cases} cases ({tally.requests} requests) in {seconds:.1f} s, "
          f"statuses {dict(sorted(tally.statuses.items()))}, {len(tally.failures)} failing answers")
    assert tally.cases >= FUZZ_CASES and not tally.failures
    assert set(tally.statuses) & {200, 204} and set(tally.statuses) & {400, 404}  # reached both the work and the checks


BAD_USER_EVENT = {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 1.0},
                                                               "entities": [["order_id", "A1"]]}}


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/conversations/found/tracker/events", BAD_USER_EVENT, "event.parse_data.entities[0]"),
    ("PUT", "/conversations/found/tracker/events", [{"event": "user", "parse_data": []}], "events[0].parse_data"),
    ("POST", "/conversations/found/tracker/events", {"event": "bot", "data": "x"}, "event.data"),
    ("POST", "/conversations/found/tracker/events", {"event": "action", "name": "a", "confidence": "high"},
     "event.confidence"),
    ("POST", "/conversations/found/messages", {"text": "hi", "parse_data": {"intent": "greet"}},
     "parse_data.intent"),
    ("POST", "/conversations/found/trigger_intent", {"name": "greet", "entities": [1]}, "entities"),
    ("PUT", "/model", {"model_file": "/" + "x" * 5000}, "model_file"),
    ("PUT", "/model", {"model_file": "models\u0000"}, "model_file"),
])
async def test_inputs_the_fuzzer_found_are_400_and_leave_the_conversation_usable(
    aiohttp_client: Any, trained_project: Path, method: str, path: str, body: Any, field: str
) -> None:
    """Malformed events and parse results used to be stored as sent; entities that are not objects then made
    every later story export and prediction of the conversation a 500. A path too long for the file system
    made ``PUT /model`` a 500."""
    client = await aiohttp_client(create_app(Settings(model_path=str(trained_project / "models"), enable_api=True)))
    response = await client.request(method, path, json=body)
    assert response.status == 400, await response.text()
    assert (await response.json())["field"] == field
    for probe in ("/conversations/found/story", "/conversations/found/tracker"):
        assert (await client.get(probe)).status == 200
    assert (await client.post("/conversations/found/predict")).status == 200
    reply = await client.post("/webhooks/rest/webhook", json={"sender": "found", "message": "/greet"})
    assert await reply.json() == [{"recipient_id": "found", "text": "Hi!"}]
