"""The assistant's domain: intents, entities, slots, responses, actions, forms, session config.

Stdlib only: every package may import it. Build one with :meth:`Domain.from_dict` (plain data, as
the action server receives it) or through ``bot.loaders.domain_loader`` (files, with positions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.constants import (
    DEFAULT_ACTION_NAMES,
    DEFAULT_INTENTS,
    DEFAULT_SESSION_EXPIRATION_MINUTES,
    IS_RETRIEVAL_INTENT,
    REQUESTED_SLOT,
    SESSION_START_METADATA_SLOT,
    UTTER_PREFIX,
)


@dataclass
class Slot:
    """One slot: type, possible values, initial value, whether it shapes the dialogue, and mappings."""

    name: str
    type: str = "text"
    values: list[Any] = field(default_factory=list)  # categorical
    initial_value: Any = None
    influence_conversation: bool = True
    mappings: list[dict[str, Any]] = field(default_factory=list)
    min_value: float = 0.0
    max_value: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "initial_value": self.initial_value,
            "influence_conversation": self.influence_conversation,
            "mappings": self.mappings,
        }
        if self.type == "categorical":
            data["values"] = self.values
        if self.type == "float":
            data["min_value"], data["max_value"] = self.min_value, self.max_value
        return data


@dataclass
class Form:
    """A form: the slots it asks for, in order, and intents that don't interrupt it."""

    name: str
    required_slots: list[str] = field(default_factory=list)
    ignored_intents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"required_slots": self.required_slots}
        if self.ignored_intents:
            data["ignored_intents"] = self.ignored_intents
        return data


@dataclass
class Domain:
    """Everything the assistant knows about its world (Rasa's ``domain.yml``)."""

    intents: list[str] = field(default_factory=list)
    intent_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)
    entity_roles: dict[str, list[str]] = field(default_factory=dict)
    entity_groups: dict[str, list[str]] = field(default_factory=dict)
    entity_influence: dict[str, bool] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    action_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    action_texts: list[str] = field(default_factory=list)  # end-to-end ``bot:`` texts of the stories
    session_expiration_time: float = DEFAULT_SESSION_EXPIRATION_MINUTES
    carry_over_slots: bool = True
    store_entities_as_slots: bool = True

    # -- derived views -------------------------------------------------------------------------
    @property
    def all_intents(self) -> list[str]:
        """Declared intents plus Rasa's default intents (``nlu_fallback``, ``restart``, …)."""
        return self.intents + [i for i in DEFAULT_INTENTS if i not in self.intents]

    @property
    def action_names(self) -> list[str]:
        """Every action a policy may predict: built-ins, responses, custom actions, forms (stable order).

        Policies ask for this several times per prediction: the list is built once and rebuilt only when
        the actions, forms or responses it comes from change (a new list is returned each time).
        """
        source = (tuple(self.actions), tuple(self.forms), tuple(self.responses), tuple(self.action_texts))
        cached = self.__dict__.get("_action_names")
        if cached is None or cached[0] != source:
            names: list[str] = list(DEFAULT_ACTION_NAMES)
            seen = set(names)
            for name in [*self.actions, *self.forms, *sorted(self.responses), *self.action_texts]:
                if name not in seen:
                    names.append(name)
                    seen.add(name)
            cached = self.__dict__["_action_names"] = (source, names)
        return list(cached[1])

    @property
    def user_actions(self) -> list[str]:
        """Custom actions and forms declared by the user (not responses, not built-ins)."""
        return [a for a in self.actions if a not in DEFAULT_ACTION_NAMES]

    @property
    def retrieval_intents(self) -> list[str]:
        """Intents marked ``is_retrieval_intent`` (Rasa marks the ``faq`` of NLU examples ``faq/x``)."""
        return [name for name, props in self.intent_properties.items() if props.get(IS_RETRIEVAL_INTENT)]

    def is_retrieval_action(self, name: str) -> bool:
        """``utter_faq`` for the retrieval intent ``faq``: it says the response the ResponseSelector chose."""
        return name.startswith(UTTER_PREFIX) and name[len(UTTER_PREFIX):] in self.retrieval_intents

    def mark_retrieval_intents(self, intents: list[str], responses: dict[str, list[dict[str, Any]]]) -> None:
        """Merge what the NLU data says about retrieval intents, as Rasa's importer does.

        ``responses`` (a training file's ``responses:`` section) join the domain's, each retrieval
        intent gets ``is_retrieval_intent: true`` and its action ``utter_<intent>`` is declared.
        """
        for name, variations in responses.items():
            self.responses.setdefault(name, variations)
        for intent in intents:
            self.intent_properties.setdefault(intent, {})[IS_RETRIEVAL_INTENT] = True
            action = f"{UTTER_PREFIX}{intent}"
            if action not in self.actions:
                self.actions.append(action)

    def add_action_texts(self, texts: list[str]) -> None:
        """Declare the stories' end-to-end bot texts (``- bot: ...``) as actions, as Rasa's importer does."""
        for text in texts:
            if text not in self.action_texts:
                self.action_texts.append(text)

    def is_form(self, name: str) -> bool:
        return name in self.forms

    def is_response(self, name: str) -> bool:
        return name in self.responses

    def all_slots(self) -> dict[str, Slot]:
        """Declared slots plus the ones Rasa always adds (``requested_slot``, session metadata)."""
        slots = dict(self.slots)
        if self.forms and REQUESTED_SLOT not in slots:
            slots[REQUESTED_SLOT] = Slot(REQUESTED_SLOT, "any", influence_conversation=False)
        slots.setdefault(SESSION_START_METADATA_SLOT, Slot(SESSION_START_METADATA_SLOT, "any", influence_conversation=False))
        return slots

    def entities_for_intent(self, intent: str) -> list[str]:
        """Entities that a message of ``intent`` passes on (``use_entities`` / ``ignore_entities``)."""
        props = self.intent_properties.get(intent, {})
        use = props.get("use_entities", True)
        ignore = set(props.get("ignore_entities", []) or [])
        if use is True or use is None:
            selected = list(self.entities)
        else:
            selected = [e for e in self.entities if e in set(use or [])]
        return [e for e in selected if e not in ignore]

    # -- wire format -----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Rasa's domain dict (what ``GET /domain`` returns and the action server receives)."""
        intents: list[Any] = []
        for name in self.intents:
            props = self.intent_properties.get(name)
            intents.append({name: props} if props else name)
        entities: list[Any] = []
        for name in self.entities:
            props: dict[str, Any] = {}
            if self.entity_roles.get(name):
                props["roles"] = self.entity_roles[name]
            if self.entity_groups.get(name):
                props["groups"] = self.entity_groups[name]
            if self.entity_influence.get(name) is False:
                props["influence_conversation"] = False
            entities.append({name: props} if props else name)
        actions: list[Any] = []
        for name in self.actions:
            props = self.action_properties.get(name)
            actions.append({name: props} if props else name)
        return {
            "version": "3.1",
            "config": {"store_entities_as_slots": self.store_entities_as_slots},
            "session_config": {
                "session_expiration_time": self.session_expiration_time,
                "carry_over_slots_to_new_session": self.carry_over_slots,
            },
            "intents": intents,
            "entities": entities,
            "slots": {name: slot.as_dict() for name, slot in self.slots.items()},
            "responses": self.responses,
            "actions": actions,
            "forms": {name: form.as_dict() for name, form in self.forms.items()},
            **({"e2e_actions": list(self.action_texts)} if self.action_texts else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Domain:
        """Build a domain from plain data (no validation: use the loader for user files)."""
        domain = cls()
        for item in data.get("intents") or []:
            if isinstance(item, dict):
                (name, props), = item.items()
                domain.intents.append(str(name))
                if props:
                    domain.intent_properties[str(name)] = dict(props)
            else:
                domain.intents.append(str(item))
        for item in data.get("entities") or []:
            if isinstance(item, dict):
                (name, props), = item.items()
                name = str(name)
                domain.entities.append(name)
                props = props or {}
                domain.entity_roles[name] = list(props.get("roles") or [])
                domain.entity_groups[name] = list(props.get("groups") or [])
                if props.get("influence_conversation") is False:
                    domain.entity_influence[name] = False
            else:
                domain.entities.append(str(item))
        for name, props in (data.get("slots") or {}).items():
            props = props or {}
            domain.slots[str(name)] = Slot(
                name=str(name),
                type=str(props.get("type", "text")),
                values=list(props.get("values") or []),
                initial_value=props.get("initial_value"),
                influence_conversation=bool(props.get("influence_conversation", True)),
                mappings=[dict(m) for m in props.get("mappings") or []],
                min_value=float(props.get("min_value", 0.0)),
                max_value=float(props.get("max_value", 1.0)),
            )
        domain.responses = {str(k): list(v or []) for k, v in (data.get("responses") or {}).items()}
        for item in data.get("actions") or []:
            if isinstance(item, dict):
                (name, props), = item.items()
                domain.actions.append(str(name))
                if props:
                    domain.action_properties[str(name)] = dict(props)
            else:
                domain.actions.append(str(item))
        for name, props in (data.get("forms") or {}).items():
            props = props or {}
            required = props.get("required_slots") or []
            if isinstance(required, dict):  # Rasa 2.x style: slot -> mappings
                required = list(required)
            domain.forms[str(name)] = Form(
                name=str(name),
                required_slots=[str(s) for s in required],
                ignored_intents=[str(i) for i in props.get("ignored_intents") or []],
            )
        domain.action_texts = [str(t) for t in data.get("e2e_actions") or []]
        session = data.get("session_config") or {}
        if "session_expiration_time" in session:
            domain.session_expiration_time = float(session["session_expiration_time"] or 0)
        if "carry_over_slots_to_new_session" in session:
            domain.carry_over_slots = bool(session["carry_over_slots_to_new_session"])
        config = data.get("config") or {}
        domain.store_entities_as_slots = bool(config.get("store_entities_as_slots", True))
        return domain
