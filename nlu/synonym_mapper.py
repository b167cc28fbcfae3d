"""EntitySynonymMapper: replace an extracted value by its canonical value (``synonym:`` items and
``[text]{"entity": .., "value": ..}`` annotations), case-insensitively, as Rasa does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.training_data import NLUData
from nlu.component import STAGE_PROCESSOR, Component, Message

SYNONYMS_FILE = "synonyms.json"


class EntitySynonymMapper(Component):
    """Map entity values to synonyms; adds ``"EntitySynonymMapper"`` to the entity's ``processors``."""

    name = "EntitySynonymMapper"
    stage = STAGE_PROCESSOR
    trainable = True

    def __init__(self) -> None:
        self.synonyms: dict[str, str] = {}

    def train(self, data: NLUData, seed: int = 0, progress: bool = False) -> EntitySynonymMapper:
        self.synonyms = {k.lower(): str(v) for k, v in data.synonyms.items()}
        return self

    def process(self, messages: list[Message]) -> None:
        if not self.synonyms:
            return
        for message in messages:
            for entity in message.get("entities", []):
                value = entity.get("value")
                if not isinstance(value, str):
                    continue
                canonical = self.synonyms.get(value.lower())
                if canonical is not None and canonical != value:
                    entity["value"] = canonical
                    entity.setdefault("processors", []).append(self.name)

    def save(self, folder: Path) -> None:
        (folder / SYNONYMS_FILE).write_text(json.dumps(self.synonyms, indent=1, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> EntitySynonymMapper:
        mapper = cls()
        path = folder / SYNONYMS_FILE
        if path.is_file():
            mapper.synonyms = json.loads(path.read_text(encoding="utf-8"))
        return mapper
