"""A "yes" or "no" in words answers the offer the bot just made (``offers:`` in endpoints.yml).

When the bot's last message carries buttons ("A colleague can check whether a warranty claim is possible"
[Talk to a person → ``/human_agent``]) and the shopper types "yes please" instead of clicking, the NLU reads
``affirm``: true, but it says nothing about *what* was accepted. With ``offers:`` on, Kefu reads the answer in
the context of the question: an accepting intent becomes the first button's intent (and entities), a declining
intent the intent of a button that declines (``/deny``, ``/goodbye``...), as if the shopper had clicked it. The
user event keeps the text the shopper typed; the parse data records what was read (``kefu_offer``).

Nothing changes when the buttons already ask for that intent (a Yes [``/affirm``] / No [``/deny``] question),
when the message is itself a button payload, or when anything else happened since the bot's message. Off by
default: Rasa does not do this, and a Rasa assistant's stories may expect the bare ``affirm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import events as ev
from bot.interpreter import parse_payload


@dataclass(frozen=True)
class OfferSettings:
    """How a worded answer to the bot's buttons is read (``offers:`` in endpoints.yml).

    :param enabled: read "yes"/"no" as an answer to the last message's buttons
    :param accept: intents that accept the offer (the first button)
    :param decline: intents that decline it (the button whose intent is one of ``decline_buttons``)
    :param decline_buttons: button intents that mean "no, thanks"
    """

    enabled: bool = False
    accept: tuple[str, ...] = ("affirm",)
    decline: tuple[str, ...] = ("deny",)
    decline_buttons: tuple[str, ...] = ("deny", "goodbye", "stop")

    @classmethod
    def from_config(cls, config: dict[str, Any] | bool | None) -> OfferSettings:
        """``offers: true`` or ``offers: {accept: [affirm], decline: [deny], decline_buttons: [...]}``."""
        if config is None or config is False:
            return cls()
        if config is True:
            return cls(enabled=True)
        if not isinstance(config, dict):
            raise ValueError(f"endpoints.yml offers: expected true/false or a mapping, got {type(config).__name__}")

        def names(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = config.get(key, default)
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"endpoints.yml offers.{key}: expected a list of intent names, got {value!r}")
            return tuple(value)

        return cls(enabled=bool(config.get("enabled", True)), accept=names("accept", cls.accept),
                   decline=names("decline", cls.decline), decline_buttons=names("decline_buttons", cls.decline_buttons))


def pending_buttons(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buttons of the bot's messages since the shopper last spoke (the offer now on the table)."""
    buttons: list[dict[str, Any]] = []
    for event in reversed(events):
        kind = event.get("event")
        if kind == ev.USER:
            break
        if kind == ev.BOT:
            found = (event.get("data") or {}).get("buttons") or []
            if found:
                buttons = [b for b in found if isinstance(b, dict)]
                break
    return buttons


def answer_to_offer(parse_data: dict[str, Any], events: Sequence[dict[str, Any]],
                    settings: OfferSettings) -> dict[str, Any] | None:
    """The parse data with the offer's answer read in, or None when nothing is to be read differently."""
    if not settings.enabled or str(parse_data.get("text") or "").startswith("/"):
        return None
    intent = str((parse_data.get("intent") or {}).get("name") or "")
    if intent not in settings.accept and intent not in settings.decline:
        return None
    choices = []
    for button in pending_buttons(events):
        payload = parse_payload(str(button.get("payload") or ""))
        if payload is not None:
            choices.append((button, payload))
    if not choices:
        return None
    if intent in settings.accept:
        chosen = choices[0]
    else:
        chosen = next((c for c in choices if c[1]["intent"]["name"] in settings.decline_buttons), None)
        if chosen is None:
            return None
    button, payload = chosen
    if payload["intent"]["name"] == intent:
        return None
    confidence = float((parse_data.get("intent") or {}).get("confidence") or 1.0)
    read = {"name": payload["intent"]["name"], "confidence": confidence}
    return {
        **parse_data,
        "intent": read,
        "intent_ranking": [read, *[r for r in parse_data.get("intent_ranking") or [] if r.get("name") != read["name"]]],
        "entities": [*(parse_data.get("entities") or []), *payload.get("entities", [])],
        "kefu_offer": {"answered": intent, "button": button.get("title"), "payload": button.get("payload")},
    }
