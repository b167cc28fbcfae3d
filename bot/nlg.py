"""Response selection: pick one variation of an ``utter_*`` response and fill in slot values.

Rasa's templated NLG semantics (``rasa/core/nlg/response.py``):

- a variation with a ``condition:`` is only eligible when every condition holds (``type: slot``,
  ``name``, ``value``); eligible conditional variations win over plain ones (and among them those with
  the most conditions), so an angry shopper
  (``sentiment: angry``) gets the apologetic variant;
- a variation with ``channel:`` is only used on that channel, and channel-specific variations win
  over channel-less ones (conditional + channel > plain + channel > conditional > plain);
- ``{slot}`` placeholders are replaced in text, buttons, image, custom and attachment; a
  placeholder naming an unknown slot leaves the text untouched (as Rasa does);
- one variation is drawn with a seeded ``random.Random`` so a seeded bot is reproducible.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Mapping
from typing import Any

BotMessage = dict[str, Any]

RESPONSE_KEYS = ("text", "buttons", "image", "custom", "attachment", "elements", "quick_replies")
_INTERPOLATED_KEYS = ("text", "buttons", "image", "custom", "attachment", "elements", "quick_replies")
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")


def interpolate_text(text: str, values: Mapping[str, Any]) -> str:
    """Replace ``{name}`` with ``values[name]``; leave the text as it was when a name is unknown."""
    if not isinstance(text, str) or "{" not in text:
        return text
    try:
        return _PLACEHOLDER.sub(lambda m: _render(values[m.group(1)]), text)
    except KeyError:
        return text


def _render(value: Any) -> str:
    return str(value)


def interpolate(value: Any, values: Mapping[str, Any]) -> Any:
    """Interpolate strings anywhere inside lists/dicts (buttons, custom payloads)."""
    if isinstance(value, str):
        return interpolate_text(value, values)
    if isinstance(value, dict):
        return {k: interpolate(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, values) for v in value]
    return value


def condition_holds(conditions: Any, slots: Mapping[str, Any]) -> bool:
    """Whether every ``{type: slot, name, value}`` condition matches the current slot values."""
    if not isinstance(conditions, list):
        return False
    for condition in conditions:
        if not isinstance(condition, dict) or condition.get("type", "slot") != "slot":
            return False
        if slots.get(condition.get("name")) != condition.get("value"):
            return False
    return True


class TemplatedNLG:
    """Turns a response name plus the tracker's slots into a bot message (Rasa's TemplatedNaturalLanguageGenerator).

    :param responses: the domain's ``responses`` (name → list of variations)
    :param seed: seed for the variation draw (None: not reproducible)
    """

    def __init__(self, responses: Mapping[str, list[dict[str, Any]]], seed: int | None = None) -> None:
        self.responses = dict(responses)
        self.rng = random.Random(seed)

    def candidates(
        self, name: str, slots: Mapping[str, Any], channel: str | None = None
    ) -> list[dict[str, Any]]:
        """The variations Rasa would choose from, most specific group first."""
        variations = [v for v in self.responses.get(name) or [] if isinstance(v, dict)]
        conditional = [v for v in variations if v.get("condition") and condition_holds(v["condition"], slots)]
        # Kefu: the most specific eligible variations win (an angry Chinese shopper gets the variation
        # conditioned on both mood and language, not one of either); Rasa draws among all eligible ones
        most = max((len(v["condition"]) for v in conditional), default=0)
        conditional = [v for v in conditional if len(v["condition"]) == most]
        plain = [v for v in variations if not v.get("condition")]
        for group in (
            [v for v in conditional if channel is not None and v.get("channel") == channel],
            [v for v in plain if channel is not None and v.get("channel") == channel],
            [v for v in conditional if not v.get("channel")],
            [v for v in plain if not v.get("channel")],
        ):
            if group:
                return group
        return []

    def generate(
        self, name: str, slots: Mapping[str, Any], channel: str | None = None, **kwargs: Any
    ) -> BotMessage | None:
        """One filled-in message for response ``name`` or None when it has no usable variation.

        ``kwargs`` (e.g. values a custom action passed with ``response=``) override slot values.
        """
        pool = self.candidates(name, slots, channel)
        if not pool:
            return None
        variation = pool[0] if len(pool) == 1 else self.rng.choice(pool)
        values = {**{k: v for k, v in slots.items()}, **kwargs}
        message: BotMessage = {}
        for key in RESPONSE_KEYS:
            if key in variation and variation[key] is not None:
                raw = copy.deepcopy(variation[key])
                message[key] = interpolate(raw, values) if key in _INTERPOLATED_KEYS else raw
        message["response"] = name
        return message

    def has_response(self, name: str) -> bool:
        return bool(self.responses.get(name))
