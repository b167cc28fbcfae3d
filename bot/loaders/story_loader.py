"""Parse ``stories:`` and ``rules:`` sections (also test stories with ``user:`` text)."""

from __future__ import annotations

from typing import Any

from bot.errors import Problem, ProblemSink
from bot.loaders.annotation import AnnotationError, parse_annotated
from bot.training_data import (
    ANY_SLOT_VALUE,
    ActionStep,
    ActiveLoopStep,
    CheckpointStep,
    OrStep,
    SlotStep,
    SourcePos,
    Step,
    StoryBlock,
    StoryData,
    UserStep,
)
from bot.yaml_reader import PosDict, PosList

STEP_KEYS = ("intent", "user", "action", "bot", "slot_was_set", "active_loop", "or", "checkpoint")
BLOCK_KEYS = {"story", "rule", "steps", "condition", "conversation_start", "wait_for_user_input", "metadata"}


class _StoryParser(ProblemSink):
    def src(self, pos: tuple[int, int]) -> SourcePos:
        return SourcePos(self.path, pos[0], pos[1])

    # -- entities and slots -----------------------------------------------------------------
    def entities(self, raw: Any, pos: tuple[int, int]) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(pos, "'entities' must be a list")
            return []
        out: list[dict[str, Any]] = []
        for index, item in enumerate(raw):
            ipos = raw.pos(index) if isinstance(raw, PosList) else pos
            if isinstance(item, str):
                out.append({"entity": item, "value": ANY_SLOT_VALUE})
            elif isinstance(item, dict) and "entity" in item:
                out.append({k: item[k] for k in ("entity", "value", "role", "group") if k in item})
            elif isinstance(item, dict) and len(set(item) - {"role", "group"}) == 1:
                # Rasa's short form, optionally with a role/group: {city: Berlin, role: from}
                (name,) = set(item) - {"role", "group"}
                entry = {"entity": str(name), "value": item[name]}
                entry.update({k: item[k] for k in ("role", "group") if k in item})
                out.append(entry)
            else:
                self.error(ipos, "each entity must be 'name', {name: value} or {entity: .., value: ..}")
        return out

    def slots(self, raw: Any, pos: tuple[int, int]) -> dict[str, Any] | None:
        if not isinstance(raw, list):
            self.error(pos, "'slot_was_set' must be a list of slot names or {slot: value} pairs")
            return None
        slots: dict[str, Any] = {}
        for index, item in enumerate(raw):
            ipos = raw.pos(index) if isinstance(raw, PosList) else pos
            if isinstance(item, str):
                slots[item] = ANY_SLOT_VALUE
            elif isinstance(item, dict) and item:
                slots.update({str(k): v for k, v in item.items()})
            else:
                self.error(ipos, "each 'slot_was_set' item must be a slot name or a {slot: value} pair")
        return slots

    # -- steps ------------------------------------------------------------------------------
    def step(self, raw: Any, pos: tuple[int, int], where: str) -> Step | None:
        if not isinstance(raw, PosDict):
            self.error(pos, f"{where}: each step must be a mapping such as '- intent: greet' or '- action: utter_greet'")
            return None
        kinds = [k for k in STEP_KEYS if k in raw]
        if not kinds:
            keys = ", ".join(str(k) for k in raw)
            self.error(pos, f"{where}: unknown step '{keys}' (expected one of {', '.join(STEP_KEYS)})")
            return None
        source = self.src(pos)
        if "user" in raw or "intent" in raw:
            intent = raw.get("intent")
            text = None
            entities = self.entities(raw.get("entities"), raw.vpos("entities") if "entities" in raw else pos)
            if "user" in raw:
                try:
                    text, spans = parse_annotated(str(raw["user"]).strip())
                except AnnotationError as exc:
                    self.error(raw.vpos("user"), f"{where}: {exc}")
                    return None
                entities += [
                    {"entity": s.entity, "value": s.resolved_value, **({"role": s.role} if s.role else {}),
                     **({"group": s.group} if s.group else {})}
                    for s in spans
                ]
            if intent is not None and not isinstance(intent, str):
                self.error(raw.vpos("intent"), f"{where}: 'intent' must be a name")
                return None
            if intent is None and text is None:
                self.error(pos, f"{where}: a user step needs 'intent' or 'user'")
                return None
            return UserStep(intent=intent, entities=entities, text=text, source=source)
        if "action" in raw or "bot" in raw:
            action = raw.get("action")
            if action is not None and (not isinstance(action, str) or not action.strip()):
                self.error(raw.vpos("action"), f"{where}: 'action' must be an action name")
                return None
            return ActionStep(action=action, bot_text=raw.get("bot"), source=source)
        if "slot_was_set" in raw:
            slots = self.slots(raw["slot_was_set"], raw.vpos("slot_was_set"))
            return None if slots is None else SlotStep(slots=slots, source=source)
        if "active_loop" in raw:
            name = raw["active_loop"]
            if name is not None and not isinstance(name, str):
                self.error(raw.vpos("active_loop"), f"{where}: 'active_loop' must be a form name or null")
                return None
            return ActiveLoopStep(name=name, source=source)
        if "checkpoint" in raw:
            return CheckpointStep(name=str(raw["checkpoint"]), source=source)
        alternatives_raw = raw["or"]
        if not isinstance(alternatives_raw, PosList) or not alternatives_raw:
            self.error(raw.vpos("or"), f"{where}: 'or' must be a non-empty list of intent or slot_was_set steps")
            return None
        alternatives: list[UserStep | SlotStep] = []
        for index, alt in enumerate(alternatives_raw):
            parsed = self.step(alt, alternatives_raw.pos(index), where)
            if isinstance(parsed, (UserStep, SlotStep)):
                alternatives.append(parsed)
            elif parsed is not None:
                self.error(alternatives_raw.pos(index), f"{where}: 'or' may only hold intent or slot_was_set steps")
        return OrStep(alternatives=alternatives, source=source)

    def steps(self, raw: Any, pos: tuple[int, int], where: str) -> list[Step]:
        if not isinstance(raw, PosList):
            self.error(pos, f"{where}: 'steps' must be a list")
            return []
        out = []
        for index, item in enumerate(raw):
            parsed = self.step(item, raw.pos(index), where)
            if parsed is not None:
                out.append(parsed)
        return out

    def block(self, raw: Any, pos: tuple[int, int], kind: str) -> StoryBlock | None:
        label = "rule" if kind == "rules" else "story"
        if not isinstance(raw, PosDict) or label not in raw:
            self.error(pos, f"each item of '{kind}' must be a mapping starting with '{label}: <name>'")
            return None
        name = str(raw[label])
        where = f"{label} '{name}'"
        for key in raw:
            if key not in BLOCK_KEYS:
                self.error(raw.pos(key), f"{where}: unknown key '{key}' (expected steps, condition, ...)")
        if "steps" not in raw:
            self.error(raw.pos(label), f"{where} has no 'steps'")
            return None
        steps = self.steps(raw["steps"], raw.vpos("steps"), where)
        block = StoryBlock(name=name, steps=steps, kind="rule" if kind == "rules" else "story", source=self.src(pos))
        if kind == "rules":
            block.conversation_start = bool(raw.get("conversation_start", False))
            block.wait_for_user_input = bool(raw.get("wait_for_user_input", True))
            if "condition" in raw:
                block.condition = self.steps(raw["condition"], raw.vpos("condition"), where + " condition")
                for step in block.condition:
                    if not isinstance(step, (SlotStep, ActiveLoopStep)):
                        self.error((step.source.line, step.source.col) if step.source else pos,
                                   f"{where}: a condition may only hold slot_was_set and active_loop steps")
        else:
            for key in ("condition", "conversation_start", "wait_for_user_input"):
                if key in raw:
                    self.error(raw.pos(key), f"{where}: '{key}' is only allowed in rules")
        return block


def parse_story_section(section: Any, kind: str, path: str, problems: list[Problem]) -> StoryData:
    """Parse a ``stories:`` or ``rules:`` list into :class:`StoryData`."""
    parser = _StoryParser(path, problems)
    data = StoryData()
    if not isinstance(section, PosList):
        parser.error((getattr(section, "line", 0), getattr(section, "col", 0)), f"'{kind}' must be a list")
        return data
    for index, item in enumerate(section):
        block = parser.block(item, section.pos(index), kind)
        if block is None:
            continue
        (data.rules if block.is_rule else data.stories).append(block)
    return data
