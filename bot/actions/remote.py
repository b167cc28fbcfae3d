"""Custom actions on an action server, spoken to with Rasa's protocol (rasa-sdk compatible).

Request: ``POST <url> {next_action, sender_id, tracker, domain, version}``; reply
``{events, responses}``. A 400 is a rejection (forms use it), a 404 an unknown action, a 449 asks
for the domain (sent again with it). Connection errors are retried (the request never reached the
server); a timeout or a 5xx is not (the action may already have had effects).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import events as ev
from bot import fastjson
from bot.actions.action import Action, ActionExecutionRejection, bot_utterance
from bot.errors import KefuError
from bot.events import EventDict
from bot.tracker import INCLUDE_ALL

if TYPE_CHECKING:
    import aiohttp

    from bot.domain import Domain

logger = logging.getLogger(__name__)

KEFU_PROTOCOL_VERSION = "3.6.21"  # the Rasa version whose protocol Kefu speaks
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_RETRIES = 2


class ActionServerError(KefuError):
    """The action server could not run an action (down, timed out, broken reply, unknown action)."""

    def __init__(self, action_name: str, message: str) -> None:
        self.action_name = action_name
        self.message = message
        super().__init__(f"action '{action_name}': {message}")


class ActionNotFoundError(ActionServerError):
    """The action server does not know the action (HTTP 404)."""


@dataclass
class ActionEndpoint:
    """``action_endpoint`` of endpoints.yml: the URL plus client settings.

    :param url: the action server's webhook (e.g. ``http://localhost:5055/webhook``)
    :param timeout: seconds to wait for a reply
    :param connect_retries: extra attempts when the connection cannot be made
    :param retry_delay: seconds between those attempts
    :param enable_selective_domain: send the domain only to actions declared with ``send_domain: true``
    :param headers: extra HTTP headers (e.g. an API key)
    """

    url: str
    timeout: float = DEFAULT_TIMEOUT_S
    connect_retries: int = DEFAULT_CONNECT_RETRIES
    retry_delay: float = 0.2
    enable_selective_domain: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> ActionEndpoint | None:
        if not config or not config.get("url"):
            return None
        return cls(
            url=str(config["url"]),
            timeout=float(config.get("timeout", DEFAULT_TIMEOUT_S)),
            connect_retries=int(config.get("connect_retries", DEFAULT_CONNECT_RETRIES)),
            retry_delay=float(config.get("retry_delay", 0.2)),
            enable_selective_domain=bool(config.get("enable_selective_domain", False)),
            headers={str(k): str(v) for k, v in (config.get("headers") or {}).items()},
        )


class ActionClient:
    """Posts action calls to the action server; owns (or borrows) one ``aiohttp.ClientSession``.

    :param endpoint: where and how to call
    :param session: a session to reuse (the server's); None creates one on first use
    """

    def __init__(self, endpoint: ActionEndpoint, session: aiohttp.ClientSession | None = None) -> None:
        self.endpoint = endpoint
        self._session = session
        self._owns_session = session is None

    async def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp  # only the client needs it: the dialogue engine itself stays transport-free

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def call(self, action_name: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """POST ``payload``; returns (status, decoded JSON body). Raises :class:`ActionServerError`."""
        import aiohttp

        session = await self._get_session()
        timeout = aiohttp.ClientTimeout(total=self.endpoint.timeout)
        attempts = 1 + max(0, self.endpoint.connect_retries)
        body_bytes = fastjson.dumps_bytes(payload)
        headers = {"Content-Type": "application/json", **(self.endpoint.headers or {})}
        for attempt in range(attempts):
            try:
                async with session.post(self.endpoint.url, data=body_bytes, timeout=timeout, headers=headers) as response:
                    try:
                        body = fastjson.loads(await response.read())
                    except ValueError:
                        body = None
                    return response.status, body
            except aiohttp.ClientConnectorError as exc:  # never reached the server: safe to retry
                if attempt + 1 < attempts:
                    logger.debug("action server not reachable (%s), retrying", exc)
                    await asyncio.sleep(self.endpoint.retry_delay)
                    continue
                raise ActionServerError(
                    action_name, f"cannot reach the action server at {self.endpoint.url} ({exc.strerror or exc})"
                ) from exc
            except TimeoutError as exc:
                raise ActionServerError(
                    action_name, f"the action server did not answer within {self.endpoint.timeout:g}s"
                ) from exc
            except aiohttp.ClientError as exc:
                raise ActionServerError(action_name, f"request to the action server failed: {exc}") from exc
        raise ActionServerError(action_name, "unreachable")  # pragma: no cover


class RemoteAction(Action):
    """A custom action run by the action server.

    :param name: the action's name
    :param client: the action server client (None: no ``action_endpoint`` configured)
    """

    def __init__(self, name: str, client: ActionClient | None) -> None:
        self._name = name
        self.client = client

    def name(self) -> str:
        return self._name

    def _needs_domain(self, domain: Domain) -> bool:
        if self.client is None or not self.client.endpoint.enable_selective_domain:
            return True
        return bool(domain.action_properties.get(self._name, {}).get("send_domain"))

    def payload(self, tracker: Any, domain: Domain, with_domain: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": tracker.current_state(INCLUDE_ALL),
            "version": KEFU_PROTOCOL_VERSION,
        }
        if with_domain:
            body["domain"] = domain.as_dict()
        return body

    async def run(self, output_channel, nlg, tracker, domain):  # type: ignore[no-untyped-def]
        if self.client is None:
            raise ActionServerError(
                self._name, "no action server is configured (set action_endpoint.url in endpoints.yml)"
            )
        with_domain = self._needs_domain(domain)
        status, body = await self.client.call(self._name, self.payload(tracker, domain, with_domain))
        if status == 449 and not with_domain:
            status, body = await self.client.call(self._name, self.payload(tracker, domain, True))
        error = body.get("error") if isinstance(body, dict) else None
        if status == 400:
            raise ActionExecutionRejection(self._name, str(error or "rejected by the action server"))
        if status == 404:
            raise ActionNotFoundError(self._name, f"the action server does not know this action ({error or 404})")
        if status != 200:
            raise ActionServerError(self._name, f"the action server answered HTTP {status}: {error or body}")
        if not isinstance(body, dict):
            raise ActionServerError(self._name, "the action server's reply is not a JSON object")
        return self._events_from_reply(body, nlg, tracker, output_channel)

    def _events_from_reply(self, body: dict[str, Any], nlg: Any, tracker: Any, output_channel: Any) -> list[EventDict]:
        events: list[EventDict] = []
        for response in body.get("responses") or []:
            if not isinstance(response, dict):
                continue
            response = dict(response)
            name = response.pop("response", None) or response.pop("template", None)
            if name:
                kwargs = {k: v for k, v in response.items() if k not in ("text", "buttons", "elements", "custom",
                                                                             "image", "attachment")}
                message = nlg.generate(name, tracker.slots, output_channel.name(), **kwargs)
                if message is None:
                    logger.warning("action '%s' asked for response '%s', which the domain lacks", self._name, name)
                    continue
                message["utter_action"] = name
            else:
                message = {k: v for k, v in response.items() if v not in (None, [], {}, "")}
            events.append(bot_utterance(message))
        raw_events = body.get("events") or []
        if not isinstance(raw_events, list):
            raise ActionServerError(self._name, "'events' in the action server's reply is not a list")
        for index, event in enumerate(raw_events):
            problem = ev.check_event(event, index)
            if problem:
                raise ActionServerError(self._name, f"bad event in the action server's reply: {problem}")
            events.append(ev.with_timestamp(event))
        return events
