"""Simulated shoppers against an assistant that is already running: ``kefu sim evaluate --url http://HOST:PORT``.

:class:`RemoteEngine` stands in for :class:`~simulator.engine.LiveEngine` in the env. Each shopper message goes to
the server's REST webhook as a ``/intent{...}@confidence`` payload (the server's NLU is bypassed, exactly as the
semantic level bypasses it in process), then the conversation's new events are read back through Rasa's HTTP API
(``GET /conversations/{id}/tracker``: the server runs with ``--enable-api``, with ``--token`` when it has an auth
token). The actions the server ran, with their events, are replayed into the env's tracker one env step at a time;
:class:`RemoteAgent` picks exactly those actions. So the deployed assistant (its model, its action server, its
backends) decides everything, and the env scores the dialogue as it scores one in process.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot import events as ev
from bot.constants import ACTION_HANDOFF_NAME, ACTION_LISTEN_NAME
from bot.domain import Domain
from bot.errors import KefuError
from bot.processor import DEFAULT_MAX_PREDICTIONS
from bot.tracker import DialogueStateTracker
from simulator.engine import perceive
from simulator.user import BotAct

REMOTE_TIMEOUT_S = 30.0
REMOTE_HANDOFF = "the server handed off"
STARTS_AN_ACTION = (ev.ACTION, ev.ACTION_EXECUTION_REJECTED)  # a rejected action logs no ActionExecuted
PLACEHOLDER_RE = re.compile(r"\[[A-Z_]+\]")  # bot.privacy.pii.placeholder(kind)


def payload_text(parse: dict[str, Any]) -> str:
    """The ``/intent{"entity": "value"}@confidence`` message whose parse is ``parse``'s intent and entities."""
    entities = {e["entity"]: e["value"] for e in parse.get("entities", [])}
    confidence = float(parse["intent"].get("confidence", 1.0))
    return f"/{parse['intent']['name']}{json.dumps(entities) if entities else ''}@{confidence:.3f}"


class PayloadChannel:
    """Wraps an env's user channel: each message becomes the payload a REST client sends
    (:func:`payload_text`) and the env hears that payload's parse, exactly what the server makes of it: no mood,
    and the payload itself as the message's text. In-process runs with it score what ``--url`` runs score."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.said: list[str] = []

    def parse(self, act: Any, rng: np.random.Generator) -> dict[str, Any]:
        from bot.interpreter import parse_payload

        text = payload_text(self.inner.parse(act, rng))
        self.said.append(text)
        return dict(parse_payload(text))


class RemoteError(KefuError):
    """The server could not be reached, refused the call or answered something unreadable."""


@dataclass
class _Settings:
    max_predictions: int = DEFAULT_MAX_PREDICTIONS  # what ``masks="served"`` reads of a processor


class RemoteEngine:
    """The assistant at ``url`` in place of the in-process engine (see the module docstring).

    :param domain: the project's domain (the server's model must have the same actions)
    :param url: the server's base URL (``http://127.0.0.1:5005``)
    :param failure_responses: replies that say a request failed (``simulator.yml``)
    :param token: the server's ``--auth-token``, if any
    :param reseed_url: called (POST) before each dialogue so that it starts from the shop's seeded state, as in
        process (``kefu backends --simulated-shop`` serves ``/simulation/reseed``); None: the shop keeps what
        earlier dialogues did
    :param timeout: seconds per HTTP call
    """

    def __init__(self, domain: Domain, url: str, failure_responses: frozenset[str] = frozenset(),
                 token: str | None = None, reseed_url: str | None = None, timeout: float = REMOTE_TIMEOUT_S) -> None:
        self.reseed_url = reseed_url
        self.domain = domain
        self.url = url.rstrip("/")
        self.failure_responses = failure_responses
        self.token = token
        self.timeout = timeout
        self.forms = frozenset(domain.forms)
        self.custom_actions = frozenset(domain.actions) - self.forms
        self.processor = _Settings()
        self.sender_id = ""
        self.queue: list[list[dict[str, Any]]] = []  # the events of each action the server ran, in order
        self.said: dict[str, Any] = {}  # entity -> the value the shopper gave last (to read masked slots back)
        self._seen = 0
        self._handoff_at_listen = False

    # -- HTTP -----------------------------------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode({'token': self.token})}" if self.token else ""
        sep = "&" if "?" in path else ""
        return self._post(self.url + path + (sep + query[1:] if sep and query else query), body, path)

    def _post(self, url: str, body: dict[str, Any] | None, path: str = "") -> Any:
        """GET (no body) or POST ``url``; the decoded JSON reply."""
        path = path or url
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            hint = " (run the server with --enable-api, and pass its --auth-token as --token)" if exc.code in (
                401, 403, 404) else ""
            raise RemoteError(f"{path.split('?')[0]}: HTTP {exc.code}{hint}") from exc
        except (OSError, ValueError) as exc:
            raise RemoteError(f"cannot talk to {url.split('?')[0]}: {exc}") from exc

    # -- the engine's interface -----------------------------------------------------------------
    def new_tracker(self) -> DialogueStateTracker:
        """A new conversation (a fresh sender id on the server)."""
        if self.reseed_url:
            self._post(self.reseed_url, {})
        self.sender_id = f"sim-{uuid.uuid4().hex[:12]}"
        self.queue = []
        self.said = {}
        self._seen = 0
        self._handoff_at_listen = False
        return DialogueStateTracker.from_domain(self.sender_id, self.domain)

    def user_message(self, tracker: DialogueStateTracker, parse: dict[str, Any]) -> None:
        """Send the shopper's message; the server's whole turn is fetched and queued."""
        self._call("/webhooks/rest/webhook", {"sender": self.sender_id, "message": payload_text(parse)})
        self.said.update({e["entity"]: e["value"] for e in parse.get("entities", [])})
        sender = urllib.parse.quote(self.sender_id, safe="")
        events = self._call(f"/conversations/{sender}/tracker?include_events=ALL")["events"]
        new, self._seen = [self._unmasked(e) for e in events[self._seen:]], len(events)
        user_at = max((i for i, e in enumerate(new) if e.get("event") == ev.USER), default=-1)
        first_action = next((i for i in range(user_at + 1, len(new)) if new[i].get("event") in STARTS_AN_ACTION),
                            len(new))
        for event in new[:first_action]:  # session start, the message and the slots it filled
            tracker.update(event)
        self.queue = []
        for event in new[first_action:]:  # an action's events follow its ActionExecuted (or its rejection)
            if event.get("event") in STARTS_AN_ACTION:
                self.queue.append([event])
            else:
                self.queue[-1].append(event)
        names = [action[0].get("name") for action in self.queue]
        # the server answered, then handed off where it would have listened (an angry shopper's form complete)
        self._handoff_at_listen = (len(names) > 1 and names[-1] == ACTION_HANDOFF_NAME
                                   and ACTION_LISTEN_NAME not in names)

    def _unmasked(self, event: dict[str, Any]) -> dict[str, Any]:
        """A stored slot event of a server that masks PII holds a placeholder (``[EMAIL]``); the shopper knows
        what they gave, so the slot is read as that value (the server itself acted on the real one)."""
        value = event.get("value")
        if (event.get("event") == ev.SLOT and isinstance(value, str) and PLACEHOLDER_RE.fullmatch(value)
                and event.get("name") in self.said):
            return {**event, "value": self.said[event["name"]]}
        return event

    def next_action(self) -> str:
        """The next action the server ran this turn (``action_listen`` once it waits for the shopper, or where it
        handed off instead of listening)."""
        if not self.queue or (self._handoff_at_listen and len(self.queue) == 1):
            return ACTION_LISTEN_NAME
        return self.queue[0][0]["name"]

    def run(self, tracker: DialogueStateTracker, action: str, policy: str | None = None) -> BotAct | None:
        """Replay the server's next action into ``tracker``; what the shopper perceives."""
        if not self.queue or self.queue[0][0]["name"] != action:
            raise RemoteError(f"the env ran '{action}' but the server ran '{self.next_action()}' "
                              "(drive the env with RemoteAgent)")
        used = dict(tracker.slots) if action in self.custom_actions else None
        events = self.queue.pop(0)
        for event in events:
            tracker.update(event)
        written = events if events[0].get("event") == ev.ACTION_EXECUTION_REJECTED else events[1:]
        return perceive(action, written, tracker, used, self.failure_responses, self.forms)

    def listen(self, tracker: DialogueStateTracker, policy: str | None = None) -> None:
        if self.queue and self.queue[0][0]["name"] == ACTION_LISTEN_NAME:
            self.run(tracker, ACTION_LISTEN_NAME)

    def _handoff_next(self) -> bool:
        return bool(self.queue) and self.queue[0][0].get("name") == ACTION_HANDOFF_NAME

    def handoff_reason(self, tracker: DialogueStateTracker) -> str | None:
        """Kefu's own handoff before any prediction shows as the server's first action of the turn."""
        return REMOTE_HANDOFF if self._handoff_next() else None

    def handoff_after_reply(self, tracker: DialogueStateTracker) -> str | None:
        """Kefu's handoff once the bot has answered shows as the server's last action, with no listen before it."""
        return REMOTE_HANDOFF if self._handoff_at_listen else None

    def fallback_handoff_due(self, tracker: DialogueStateTracker) -> bool:
        """Kefu's handoff after fallbacks in a row shows as the server's action after it listened."""
        return self._handoff_next()

    def hand_off(self, tracker: DialogueStateTracker, reason: str) -> None:
        """Replay the server's handoff."""
        self.run(tracker, ACTION_HANDOFF_NAME)


class RemoteAgent:
    """Chooses what the remote server chose (the env must run a :class:`RemoteEngine`)."""

    masks = "served"

    def __init__(self, name: str = "remote") -> None:
        self.name = name

    def act(self, env: Any, obs: np.ndarray) -> int:
        name = env.engine.next_action()
        if name not in env.action_index:
            raise RemoteError(f"the server ran '{name}', which the project's domain lacks (another model?)")
        return env.action_index[name]
