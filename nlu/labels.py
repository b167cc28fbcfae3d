"""The label sets of a trained joint model (no PyTorch: serving reads them too)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nlu.tagging import OUTSIDE


@dataclass
class LabelSpace:
    """Every label set of a trained model (the order is the heads' output order)."""

    intents: list[str]
    sentiments: list[str]
    entity_tags: list[str]
    roles: list[str] = field(default_factory=lambda: [OUTSIDE])
    groups: list[str] = field(default_factory=lambda: [OUTSIDE])

    def sizes(self) -> dict[str, int]:
        return {
            "intents": len(self.intents),
            "sentiments": len(self.sentiments),
            "entity_tags": len(self.entity_tags),
            "roles": len(self.roles),
            "groups": len(self.groups),
        }

    def to_dict(self) -> dict[str, list[str]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LabelSpace:
        return cls(**{k: list(v) for k, v in raw.items() if k in cls.__dataclass_fields__})

    def index(self, name: str) -> dict[str, int]:
        return {label: i for i, label in enumerate(getattr(self, name))}
