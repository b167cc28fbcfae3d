"""Read ``domain.yml`` (one file or a directory of files, merged as Rasa does) with positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.constants import MAPPING_TYPES, SLOT_TYPES
from bot.domain import Domain
from bot.errors import ERROR, WARNING, Problem, ProjectError, UserFileError
from bot.loaders.training_files import check_version, yaml_files
from bot.training_data import SourcePos
from bot.yaml_reader import PosDict, PosList, load_yaml

DOMAIN_KEYS = {
    "version", "intents", "entities", "slots", "responses", "actions", "forms", "session_config", "config",
    "e2e_actions",
}
RESPONSE_KEYS = {
    "text", "image", "buttons", "custom", "attachment", "condition", "channel", "quick_replies", "elements",
    "metadata", "id", "response",
}
RESPONSE_CONTENT_KEYS = {"text", "image", "custom", "attachment", "buttons", "elements", "quick_replies"}
SLOT_KEYS = {"type", "mappings", "values", "initial_value", "influence_conversation", "min_value", "max_value", "auto_fill"}
MAPPING_KEYS = {"type", "entity", "role", "group", "intent", "not_intent", "value", "conditions", "action"}


@dataclass
class LoadedDomain:
    """A domain plus where each of its names was declared, and the problems found."""

    domain: Domain
    positions: dict[tuple[str, str], SourcePos] = field(default_factory=dict)  # (kind, name) -> where
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be parsed at all

    def where(self, kind: str, name: str) -> SourcePos | None:
        return self.positions.get((kind, name))


class _DomainReader:
    def __init__(self, loaded: LoadedDomain) -> None:
        self.loaded = loaded
        self.raw: dict[str, Any] = {
            "intents": [], "entities": [], "slots": {}, "responses": {}, "actions": [], "forms": {},
            "session_config": {}, "config": {},
        }
        self.path = ""

    def problem(self, pos: tuple[int, int], severity: str, message: str) -> None:
        self.loaded.problems.append(Problem(self.path, pos[0], pos[1], severity, message))

    def remember(self, kind: str, name: str, pos: tuple[int, int]) -> None:
        key = (kind, name)
        if key in self.loaded.positions and kind in ("intent", "entity", "action", "slot", "form", "response"):
            first = self.loaded.positions[key]
            self.problem(pos, WARNING, f"{kind} '{name}' is declared twice (first at {first.path}:{first.line})")
        self.loaded.positions[key] = SourcePos(self.path, pos[0], pos[1])

    # -- sections ---------------------------------------------------------------------------------
    def read(self, path: Path) -> None:
        self.path = str(path)
        doc = load_yaml(path, allow_empty=True)
        self.loaded.files.append(self.path)
        if doc is None:
            self.problem((1, 1), WARNING, "domain file is empty")
            return
        if not isinstance(doc, PosDict):
            raise UserFileError(self.path, 1, 1, "a domain file must be a mapping with 'intents', 'responses', ...")
        check_version(doc, self.path, self.loaded.problems)
        for key in doc:
            if key not in DOMAIN_KEYS:
                self.problem(doc.pos(key), WARNING, f"unknown domain key '{key}' (ignored)")
        self._names(doc, "intents", "intent")
        self._names(doc, "entities", "entity")
        self._names(doc, "actions", "action")
        self._slots(doc)
        self._responses(doc)
        self._forms(doc)
        self._session(doc)
        if isinstance(doc.get("config"), dict):
            self.raw["config"].update(doc["config"])

    def _names(self, doc: PosDict, key: str, kind: str) -> None:
        items = doc.get(key)
        if items is None:
            return
        if not isinstance(items, PosList):
            self.problem(doc.vpos(key), ERROR, f"'{key}' must be a list")
            return
        for index, item in enumerate(items):
            pos = items.pos(index)
            if isinstance(item, str):
                self.remember(kind, item, pos)
                self.raw[key].append(item)
            elif isinstance(item, PosDict) and len(item) == 1:
                (name, props), = item.items()
                if props is not None and not isinstance(props, dict):
                    self.problem(item.vpos(name), ERROR, f"properties of {kind} '{name}' must be a mapping")
                    continue
                self.remember(kind, str(name), pos)
                self._check_props(kind, str(name), props or {}, item.vpos(name))
                self.raw[key].append({str(name): dict(props or {})})
            else:
                self.problem(pos, ERROR, f"each item of '{key}' must be a name or '{{name: {{properties}}}}'")

    def _check_props(self, kind: str, name: str, props: dict[str, Any], pos: tuple[int, int]) -> None:
        allowed = {
            "intent": {"use_entities", "ignore_entities", "triggers", "is_retrieval_intent"},
            "entity": {"roles", "groups", "influence_conversation"},
            "action": {"send_domain"},
        }[kind]
        for key, value in props.items():
            kpos = props.pos(key) if isinstance(props, PosDict) else pos
            if key not in allowed:
                self.problem(kpos, ERROR, f"unknown property '{key}' of {kind} '{name}' (expected one of {sorted(allowed)})")
            elif key in ("use_entities", "ignore_entities") and not (isinstance(value, (list, bool)) or value is None):
                self.problem(kpos, ERROR, f"'{key}' of intent '{name}' must be a list of entities or true/false")
            elif key in ("roles", "groups") and not isinstance(value, list):
                self.problem(kpos, ERROR, f"'{key}' of entity '{name}' must be a list")
            elif key in ("send_domain", "influence_conversation") and not isinstance(value, bool):
                self.problem(kpos, ERROR, f"'{key}' of {kind} '{name}' must be true or false")

    def _slots(self, doc: PosDict) -> None:
        slots = doc.get("slots")
        if slots is None:
            return
        if not isinstance(slots, PosDict):
            self.problem(doc.vpos("slots"), ERROR, "'slots' must be a mapping of slot name to its properties")
            return
        for name, props in slots.items():
            pos = slots.pos(name)
            self.remember("slot", str(name), pos)
            if not isinstance(props, PosDict):
                self.problem(slots.vpos(name), ERROR, f"slot '{name}' must be a mapping with 'type' and 'mappings'")
                continue
            for key in props:
                if key not in SLOT_KEYS:
                    self.problem(props.pos(key), ERROR, f"unknown property '{key}' of slot '{name}'")
            slot_type = props.get("type")
            if slot_type is None:
                self.problem(pos, ERROR, f"slot '{name}' has no 'type' (one of {', '.join(SLOT_TYPES)})")
            elif str(slot_type) not in SLOT_TYPES and "." not in str(slot_type):
                self.problem(props.vpos("type"), ERROR, f"slot '{name}' has unknown type '{slot_type}' (one of {', '.join(SLOT_TYPES)} or a custom class 'module.Class')")
            if str(slot_type) == "categorical" and not isinstance(props.get("values"), list):
                self.problem(pos, ERROR, f"categorical slot '{name}' needs a list of 'values'")
            if "influence_conversation" in props and not isinstance(props["influence_conversation"], bool):
                self.problem(props.vpos("influence_conversation"), ERROR, f"'influence_conversation' of slot '{name}' must be true or false")
            if "mappings" not in props:
                self.problem(pos, ERROR, f"slot '{name}' has no 'mappings' (Rasa 3.x needs them; use '- type: custom' if an action sets it)")
            else:
                self._mappings(str(name), props["mappings"], props.vpos("mappings"))
            self.raw["slots"][str(name)] = dict(props)

    def _mappings(self, slot: str, mappings: Any, pos: tuple[int, int]) -> None:
        if not isinstance(mappings, PosList):
            self.problem(pos, ERROR, f"'mappings' of slot '{slot}' must be a list")
            return
        for index, mapping in enumerate(mappings):
            mpos = mappings.pos(index)
            self.loaded.positions[("slot_mapping", f"{slot}.{index}")] = SourcePos(self.path, *mpos)
            if not isinstance(mapping, PosDict):
                self.problem(mpos, ERROR, f"each mapping of slot '{slot}' must be a mapping with 'type'")
                continue
            mtype = mapping.get("type")
            if mtype not in MAPPING_TYPES:
                self.problem(mapping.vpos("type") if "type" in mapping else mpos, ERROR,
                             f"slot '{slot}': unknown mapping type '{mtype}' (one of {', '.join(MAPPING_TYPES)})")
                continue
            for key in mapping:
                if key not in MAPPING_KEYS:
                    self.problem(mapping.pos(key), ERROR, f"slot '{slot}': unknown mapping key '{key}'")
            if mtype == "from_entity" and not mapping.get("entity"):
                self.problem(mpos, ERROR, f"slot '{slot}': a from_entity mapping needs 'entity'")
            if mtype in ("from_intent", "from_trigger_intent") and "value" not in mapping:
                self.problem(mpos, ERROR, f"slot '{slot}': a {mtype} mapping needs 'value'")
            conditions = mapping.get("conditions")
            if conditions is not None:
                if not isinstance(conditions, PosList):
                    self.problem(mapping.vpos("conditions"), ERROR, f"slot '{slot}': 'conditions' must be a list")
                    continue
                for cindex, cond in enumerate(conditions):
                    if not isinstance(cond, dict) or "active_loop" not in cond:
                        self.problem(conditions.pos(cindex), ERROR,
                                     f"slot '{slot}': each condition needs 'active_loop' (and optionally 'requested_slot')")

    def _responses(self, doc: PosDict) -> None:
        responses = doc.get("responses")
        if responses is None:
            return
        if not isinstance(responses, PosDict):
            self.problem(doc.vpos("responses"), ERROR, "'responses' must be a mapping of utter_ names to variations")
            return
        for name, variations in responses.items():
            self.remember("response", str(name), responses.pos(name))
            if not isinstance(variations, PosList) or not variations:
                self.problem(responses.vpos(name), ERROR, f"response '{name}' must be a non-empty list of variations ('- text: ...')")
                continue
            for index, variation in enumerate(variations):
                vpos = variations.pos(index)
                if not isinstance(variation, PosDict):
                    self.problem(vpos, ERROR, f"each variation of response '{name}' must be a mapping ('- text: ...')")
                    continue
                for key in variation:
                    if key not in RESPONSE_KEYS:
                        self.problem(variation.pos(key), ERROR, f"response '{name}': unknown key '{key}'")
                if not RESPONSE_CONTENT_KEYS & set(variation):
                    self.problem(vpos, ERROR, f"response '{name}': a variation needs 'text', 'image', 'custom', 'buttons' or 'attachment'")
                if "buttons" in variation and not isinstance(variation["buttons"], list):
                    self.problem(variation.vpos("buttons"), ERROR, f"response '{name}': 'buttons' must be a list of {{title, payload}}")
                elif "buttons" in variation:
                    for bindex, button in enumerate(variation["buttons"]):
                        if not isinstance(button, dict) or "title" not in button:
                            self.problem(variation["buttons"].pos(bindex), ERROR, f"response '{name}': each button needs 'title' (and 'payload')")
                if "condition" in variation:
                    self.loaded.positions[("response_condition", f"{name}.{index}")] = SourcePos(
                        self.path, *variation.vpos("condition")
                    )
                    self._condition(str(name), variation["condition"], variation.vpos("condition"))
            self.raw["responses"][str(name)] = [dict(v) for v in variations if isinstance(v, dict)]

    def _condition(self, name: str, condition: Any, pos: tuple[int, int]) -> None:
        if not isinstance(condition, PosList):
            self.problem(pos, ERROR, f"response '{name}': 'condition' must be a list of {{type: slot, name, value}}")
            return
        for index, cond in enumerate(condition):
            if not isinstance(cond, dict) or cond.get("type") != "slot" or "name" not in cond or "value" not in cond:
                self.problem(condition.pos(index), ERROR,
                             f"response '{name}': each condition needs 'type: slot', 'name' and 'value'")

    def _forms(self, doc: PosDict) -> None:
        forms = doc.get("forms")
        if forms is None:
            return
        if not isinstance(forms, PosDict):
            self.problem(doc.vpos("forms"), ERROR, "'forms' must be a mapping of form name to its properties")
            return
        for name, props in forms.items():
            self.remember("form", str(name), forms.pos(name))
            props = props if props is not None else PosDict()
            if not isinstance(props, PosDict):
                self.problem(forms.vpos(name), ERROR, f"form '{name}' must be a mapping with 'required_slots'")
                continue
            for key in props:
                if key not in ("required_slots", "ignored_intents"):
                    self.problem(props.pos(key), ERROR, f"form '{name}': unknown key '{key}' (expected required_slots, ignored_intents)")
            required = props.get("required_slots")
            if required is None:
                required = PosList()
            if not isinstance(required, (PosList, PosDict)):
                self.problem(props.vpos("required_slots"), ERROR, f"form '{name}': 'required_slots' must be a list of slot names")
                continue
            for index, slot in enumerate(required):
                spos = required.pos(index) if isinstance(required, PosList) else required.pos(slot)
                self.loaded.positions[("form_slot", f"{name}.{slot}")] = SourcePos(self.path, *spos)
            self.raw["forms"][str(name)] = {
                "required_slots": list(required),
                "ignored_intents": list(props.get("ignored_intents") or []),
            }
            for index, intent in enumerate(props.get("ignored_intents") or []):
                ipos = props["ignored_intents"].pos(index) if isinstance(props["ignored_intents"], PosList) else props.vpos("ignored_intents")
                self.loaded.positions[("form_ignored_intent", f"{name}.{intent}")] = SourcePos(self.path, *ipos)

    def _session(self, doc: PosDict) -> None:
        session = doc.get("session_config")
        if session is None:
            return
        if not isinstance(session, PosDict):
            self.problem(doc.vpos("session_config"), ERROR, "'session_config' must be a mapping")
            return
        expiration = session.get("session_expiration_time")
        if expiration is not None and (not isinstance(expiration, (int, float)) or isinstance(expiration, bool) or expiration < 0):
            self.problem(session.vpos("session_expiration_time"), ERROR, "'session_expiration_time' must be a number of minutes ≥ 0")
        carry = session.get("carry_over_slots_to_new_session")
        if carry is not None and not isinstance(carry, bool):
            self.problem(session.vpos("carry_over_slots_to_new_session"), ERROR, "'carry_over_slots_to_new_session' must be true or false")
        self.raw["session_config"].update({k: v for k, v in session.items() if k in ("session_expiration_time", "carry_over_slots_to_new_session") and v is not None and not isinstance(v, str)})


def read_domain(path: str | Path) -> LoadedDomain:
    """Read a domain file or directory; bad YAML becomes a problem, never an exception."""
    loaded = LoadedDomain(domain=Domain())
    reader = _DomainReader(loaded)
    path = Path(path)
    files = yaml_files([path]) if path.is_dir() else [path]
    if path.is_dir() and not files:
        loaded.problems.append(Problem(str(path), 0, 0, ERROR, "domain directory holds no .yml files"))
    for file in files:
        try:
            reader.read(file)
        except UserFileError as exc:
            loaded.problems.append(exc.problem)
            loaded.unreadable.append(str(file))
    try:
        loaded.domain = Domain.from_dict(reader.raw)
    except (TypeError, ValueError) as exc:  # defensive: schema problems already reported
        loaded.problems.append(Problem(str(path), 0, 0, ERROR, f"domain could not be built: {exc}"))
    return loaded


def load_domain(path: str | Path) -> Domain:
    """Read a domain and raise :class:`ProjectError` if it has errors."""
    loaded = read_domain(path)
    errors = [p for p in loaded.problems if p.is_error]
    if errors:
        raise ProjectError(errors)
    return loaded.domain
