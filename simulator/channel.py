"""How a shopper's act reaches the bot: through a TC-Bot error model, or as text through the real NLU.

:class:`SemanticChannel` (dialogue-act level) corrupts the act the way TC-Bot's ``corrupt()`` does:
with ``intent_error`` the intent becomes another one; with ``slot_error`` per informed slot the value
is replaced by another from the pool (``value``), moved to another entity type (``swap``) or
dropped (``delete``); ``mixed`` picks one of the three. The result is a parse result in Rasa's
``/model/parse`` shape, as the real NLU would give.

:class:`TextChannel` renders the act to a sentence (the project's own NLU examples with the
shopper's values filled in, angrier when the shopper is angry) and parses it with Kefu's NLU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from bot.domain import Domain
from bot.training_data import NLUExample
from simulator.user import UserAct

SLOT_ERROR_MODES = ("value", "swap", "delete")


class UserChannel(Protocol):
    """Turns a semantic user act into what the bot's NLU hands the dialogue engine."""

    def parse(self, act: UserAct, rng: np.random.Generator) -> dict[str, Any]:
        """A parse result (Rasa's ``/model/parse`` shape, with ``sentiment``)."""


def _entity_slots(domain: Domain) -> dict[str, str]:
    """slot -> the entity that fills it (``from_entity`` mappings)."""
    found: dict[str, str] = {}
    for name, slot in domain.slots.items():
        for mapping in slot.mappings:
            if mapping.get("type") == "from_entity" and mapping.get("entity") in domain.entities:
                found.setdefault(name, str(mapping["entity"]))
    return found


def _text_slots(domain: Domain) -> set[str]:
    return {name for name, slot in domain.slots.items() if any(m.get("type") == "from_text" for m in slot.mappings)}


class SemanticChannel:
    """TC-Bot-style NLU errors at set rates (see the module docstring).

    :param domain: the shop's domain (intents, entities, slot mappings)
    :param pools: slot -> values a wrong value is drawn from
    :param intent_error: chance the intent is replaced by a random other intent
    :param slot_error: chance per informed slot that it is corrupted
    :param slot_error_mode: ``mixed``, ``value``, ``swap`` or ``delete``
    """

    def __init__(self, domain: Domain, pools: Mapping[str, Sequence[str]], intent_error: float = 0.0,
                 slot_error: float = 0.0, slot_error_mode: str = "mixed") -> None:
        self.intents = [i for i in domain.intents]
        self.pools = {k: list(v) for k, v in pools.items()}
        self.intent_error = float(intent_error)
        self.slot_error = float(slot_error)
        self.slot_error_mode = slot_error_mode
        self.entity_of = _entity_slots(domain)
        self.text_slots = _text_slots(domain)
        self.entity_names = sorted(set(self.entity_of.values()))

    def parse(self, act: UserAct, rng: np.random.Generator) -> dict[str, Any]:
        intent = act.intent
        confidence = 0.6 + 0.4 * float(rng.random())
        if self.intent_error > 0 and rng.random() < self.intent_error and len(self.intents) > 1:
            others = [i for i in self.intents if i != act.intent]
            intent = others[int(rng.integers(len(others)))]
            confidence = 0.3 + 0.6 * float(rng.random())
        entities: list[dict[str, Any]] = []
        text = None
        for slot, value in act.slots.items():
            entity = self.entity_of.get(slot)
            if self.slot_error > 0 and rng.random() < self.slot_error:
                mode = self.slot_error_mode
                if mode == "mixed":
                    mode = SLOT_ERROR_MODES[int(rng.integers(3))]
                if mode == "delete":
                    continue
                if mode == "value":
                    pool = [v for v in self.pools.get(slot, []) if v != value]
                    if pool:
                        value = pool[int(rng.integers(len(pool)))]
                elif mode == "swap" and entity is not None and len(self.entity_names) > 1:
                    others = [e for e in self.entity_names if e != entity]
                    entity = others[int(rng.integers(len(others)))]
            if entity is not None:
                entities.append({"entity": entity, "start": 0, "end": 0, "value": value,
                                 "confidence_entity": 1.0, "extractor": "simulator"})
            if slot in self.text_slots and text is None:
                text = str(value)
        return {
            "text": text if text is not None else "/" + act.intent,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": entities,
            "sentiment": {"label": act.sentiment, "confidence": 1.0, "scores": {act.sentiment: 1.0}},
        }


# ------------------------------------------------------------------------------------------------
# Text level

ANGRY_OPENERS = ("Seriously?! ", "This is ridiculous. ", "Ugh, again. ", "I'm losing my patience here. ",
                 "For the last time: ")
ANGRY_CLOSERS = ("!!", " Fix it NOW.", " This is unacceptable!", " Worst service ever.")
NEGATIVE_OPENERS = ("Hmm, ", "Well, ", "Look, ")
ANXIOUS_OPENERS = ("I'm really worried, ", "Please help, ", "I'm a bit stressed about this, ")
_SPAN = re.compile(r"\[([^\]]+)\](\([^)]+\)|\{[^}]+\})")


class TextRenderer:
    """Writes a user act as a sentence, from the project's NLU examples of that intent.

    An example is usable for an act when it annotates exactly the act's entities; the values are
    swapped in. Free-text slots (a new address) are said as they are. Mood shows in the wording.

    :param examples: the project's NLU examples
    :param domain: the shop's domain
    """

    def __init__(self, examples: Sequence[NLUExample], domain: Domain) -> None:
        self.entity_of = _entity_slots(domain)
        self.text_slots = _text_slots(domain)
        self.by_key: dict[tuple[str, frozenset[str]], list[NLUExample]] = {}
        for ex in examples:
            key = (ex.intent, frozenset(s.entity for s in ex.entities))
            self.by_key.setdefault(key, []).append(ex)

    def render(self, act: UserAct, rng: np.random.Generator) -> str:
        ents = {self.entity_of[s]: v for s, v in act.slots.items() if s in self.entity_of}
        free = [str(v) for s, v in act.slots.items() if s not in self.entity_of and s in self.text_slots]
        text = self._from_examples(act.intent, ents, rng)
        if text is None:
            parts = [str(v) for v in ents.values()] + free
            text = " and ".join(parts) if parts else act.intent.replace("_", " ")
        elif free:
            text = free[0] if act.intent == "inform" and not ents else f"{text} {free[0]}"
        return self._tone(text, act.sentiment, rng)

    def _from_examples(self, intent: str, ents: Mapping[str, Any], rng: np.random.Generator) -> str | None:
        choices = self.by_key.get((intent, frozenset(ents)))
        if not choices:
            return None
        ex = choices[int(rng.integers(len(choices)))]
        out, last = [], 0
        for span in sorted(ex.entities, key=lambda s: s.start):
            out.append(ex.text[last:span.start])
            out.append(str(ents.get(span.entity, span.text)))
            last = span.end
        out.append(ex.text[last:])
        return "".join(out)

    @staticmethod
    def _tone(text: str, sentiment: str, rng: np.random.Generator) -> str:
        if sentiment == "angry":
            return ANGRY_OPENERS[int(rng.integers(len(ANGRY_OPENERS)))] + text + \
                ANGRY_CLOSERS[int(rng.integers(len(ANGRY_CLOSERS)))]
        if sentiment == "negative" and rng.random() < 0.5:
            return NEGATIVE_OPENERS[int(rng.integers(len(NEGATIVE_OPENERS)))] + text
        if sentiment == "anxious" and rng.random() < 0.7:
            return ANXIOUS_OPENERS[int(rng.integers(len(ANXIOUS_OPENERS)))] + text
        return text


class TextChannel:
    """Renders acts to text and parses them with Kefu's real NLU (``NLUPipeline.load(dir).parse``).

    :param nlu: anything with ``parse(text) -> ParseResult`` (a loaded ``NLUPipeline``)
    :param renderer: writes the sentences
    """

    def __init__(self, nlu: Any, renderer: TextRenderer) -> None:
        self.nlu = nlu
        self.renderer = renderer
        self._cache: dict[str, dict[str, Any]] = {}

    def parse(self, act: UserAct, rng: np.random.Generator) -> dict[str, Any]:
        text = self.renderer.render(act, rng)
        act.text = text
        hit = self._cache.get(text)
        if hit is None:
            hit = dict(self.nlu.parse(text))
            if len(self._cache) < 50_000:
                self._cache[text] = hit
        return hit


def load_nlu_pipeline(model_dir: str) -> Any:
    """Kefu's trained NLU model from ``model_dir`` (raises ImportError/KefuError when it cannot)."""
    from nlu import NLUPipeline  # type: ignore[attr-defined]  # optional: the NLU issue's package

    return NLUPipeline.load(model_dir)
