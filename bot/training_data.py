"""Training-data vocabulary shared by every package: NLU examples, entity spans, stories and rules.

Stdlib only (like rasa-sdk's ``types.py``): ``nlu``, ``policies`` and ``simulator`` import these
without pulling in the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RETRIEVAL_INTENT_SEPARATOR = "/"


@dataclass(frozen=True)
class SourcePos:
    """Where something was written: file and 1-based line/column."""

    path: str
    line: int = 0
    col: int = 0


@dataclass(frozen=True)
class EntitySpan:
    """One annotated entity inside an example's text (``start``/``end`` are character offsets)."""

    start: int
    end: int
    text: str
    entity: str
    value: Any = None
    role: str | None = None
    group: str | None = None

    @property
    def resolved_value(self) -> Any:
        """The value a synonym mapping gave, else the surface text."""
        return self.text if self.value is None else self.value


@dataclass
class NLUExample:
    """One training or test sentence with its intent, entities and metadata."""

    text: str
    intent: str
    entities: list[EntitySpan] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: SourcePos | None = None

    @property
    def base_intent(self) -> str:
        """``faq`` for the retrieval intent ``faq/returns_policy``."""
        return self.intent.split(RETRIEVAL_INTENT_SEPARATOR, 1)[0]

    @property
    def sentiment(self) -> str | None:
        """A sentiment label the user attached with ``metadata: {sentiment: ...}``."""
        value = self.metadata.get("sentiment") if isinstance(self.metadata, dict) else None
        return str(value) if value is not None else None


@dataclass
class NLUData:
    """Everything the ``nlu:`` sections of a project hold."""

    examples: list[NLUExample] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # lower-cased variant -> canonical value
    regexes: list[tuple[str, str]] = field(default_factory=list)  # (name, pattern)
    lookups: dict[str, list[str]] = field(default_factory=dict)  # name -> elements
    synonym_sources: dict[str, SourcePos] = field(default_factory=dict)

    def merge(self, other: NLUData) -> NLUData:
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        self.synonym_sources.update(other.synonym_sources)
        self.regexes.extend(other.regexes)
        for name, elements in other.lookups.items():
            self.lookups.setdefault(name, []).extend(elements)
        return self

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    @property
    def entities(self) -> list[str]:
        return sorted({s.entity for e in self.examples for s in e.entities})


# ---------------------------------------------------------------------------------------------
# Stories and rules

@dataclass
class UserStep:
    """``- intent: x`` (with optional ``entities``) or ``- user: text`` in a story."""

    intent: str | None
    entities: list[dict[str, Any]] = field(default_factory=list)  # [{"entity","value","role"?,"group"?}]
    text: str | None = None
    source: SourcePos | None = None


@dataclass
class ActionStep:
    """``- action: name`` (or ``- bot: text`` in end-to-end stories)."""

    action: str | None
    bot_text: str | None = None
    source: SourcePos | None = None


@dataclass
class SlotStep:
    """``- slot_was_set:`` with one or more slot values (``value=...`` absent means any non-null)."""

    slots: dict[str, Any]
    source: SourcePos | None = None


@dataclass
class ActiveLoopStep:
    """``- active_loop: form_name`` (or ``null``)."""

    name: str | None
    source: SourcePos | None = None


@dataclass
class OrStep:
    """``- or:`` alternatives (each a user step or a slot step)."""

    alternatives: list[UserStep | SlotStep]
    source: SourcePos | None = None


@dataclass
class CheckpointStep:
    """``- checkpoint: name``."""

    name: str
    source: SourcePos | None = None


Step = UserStep | ActionStep | SlotStep | ActiveLoopStep | OrStep | CheckpointStep

ANY_SLOT_VALUE = object()  # "slot_was_set: [slot]" without a value matches any non-null value


@dataclass
class StoryBlock:
    """A story, a rule or a test story."""

    name: str
    steps: list[Step]
    kind: str = "story"  # "story" | "rule"
    conversation_start: bool = False
    condition: list[Step] = field(default_factory=list)
    wait_for_user_input: bool = True
    source: SourcePos | None = None

    @property
    def is_rule(self) -> bool:
        return self.kind == "rule"


@dataclass
class StoryData:
    """All stories and rules of a project (or of a test file)."""

    stories: list[StoryBlock] = field(default_factory=list)
    rules: list[StoryBlock] = field(default_factory=list)

    def merge(self, other: StoryData) -> StoryData:
        self.stories.extend(other.stories)
        self.rules.extend(other.rules)
        return self
