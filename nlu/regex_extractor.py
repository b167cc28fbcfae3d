"""RegexEntityExtractor: entities from ``regex:`` patterns and ``lookup:`` tables, as Rasa extracts them.

As in Rasa, only patterns and tables named after an entity that the training data annotates
are used (``regex: order_id`` finds ``order_id`` entities). Lookup elements are matched as whole
words, case-insensitively unless ``case_sensitive: true``.

Word boundaries are script-aware: Python's ``\\b`` fails between ``单`` and ``A12345`` in ``订单A12345到哪了``
(CJK characters are ``\\w`` too), so a boundary also counts next to any CJK character. Chinese lookup
elements (``运动鞋``) thus match anywhere in Chinese text, ``A12345`` is found between ideographs, and text
without CJK characters is matched exactly as with ``\\b`` (``nike`` is not found in ``nikes``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.training_data import NLUData
from nlu.cjk import CJK_BOUNDARY
from nlu.component import Component, Message

PATTERNS_FILE = "regex_patterns.json"


class RegexEntityExtractor(Component):
    """Extract entities with regular expressions and lookup tables (confidence 1.0).

    :param case_sensitive: match case-sensitively (Rasa's default: false)
    :param use_lookup_tables: use ``lookup:`` tables
    :param use_regexes: use ``regex:`` patterns
    :param use_word_boundaries: wrap patterns in word boundaries (``\\b``, script-aware) so they match whole
        words only
    """

    name = "RegexEntityExtractor"
    trainable = True

    def __init__(
        self,
        case_sensitive: bool = False,
        use_lookup_tables: bool = True,
        use_regexes: bool = True,
        use_word_boundaries: bool = True,
    ) -> None:
        self.case_sensitive = case_sensitive
        self.use_lookup_tables = use_lookup_tables
        self.use_regexes = use_regexes
        self.use_word_boundaries = use_word_boundaries
        self.patterns: list[dict[str, str]] = []  # [{"name": entity, "pattern": regex}]
        self._compiled: list[tuple[str, re.Pattern[str]]] = []

    def params(self) -> dict[str, Any]:
        return {
            "case_sensitive": self.case_sensitive,
            "use_lookup_tables": self.use_lookup_tables,
            "use_regexes": self.use_regexes,
            "use_word_boundaries": self.use_word_boundaries,
        }

    def train(self, data: NLUData, seed: int = 0, progress: bool = False) -> RegexEntityExtractor:
        entities = set(data.entities)
        patterns: list[dict[str, str]] = []
        if self.use_regexes:
            for name, pattern in data.regexes:
                if name in entities:
                    patterns.append({"name": name, "pattern": self._bounded(pattern)})
        if self.use_lookup_tables:
            for name, elements in data.lookups.items():
                if name in entities and elements:
                    alternatives = "|".join(re.escape(e.strip()) for e in sorted(elements, key=len, reverse=True) if e.strip())
                    patterns.append({"name": name, "pattern": self._bounded(f"(?:{alternatives})")})
        self.patterns = patterns
        self._compile()
        return self

    def _bounded(self, pattern: str) -> str:
        return f"{CJK_BOUNDARY}(?:{pattern}){CJK_BOUNDARY}" if self.use_word_boundaries else pattern

    def _compile(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        self._compiled = [(p["name"], re.compile(p["pattern"], flags)) for p in self.patterns]

    def extract(self, text: str) -> list[dict[str, Any]]:
        """Every match in ``text`` as a Rasa entity dict."""
        found: list[dict[str, Any]] = []
        for name, regex in self._compiled:
            for match in regex.finditer(text):
                if match.end() > match.start():
                    found.append(
                        {
                            "entity": name,
                            "start": match.start(),
                            "end": match.end(),
                            "value": match.group(0),
                            "confidence_entity": 1.0,
                            "extractor": self.name,
                        }
                    )
        return found

    def process(self, messages: list[Message]) -> None:
        if not self._compiled:
            return
        for message in messages:
            message.setdefault("entities", []).extend(self.extract(message["text"]))

    def save(self, folder: Path) -> None:
        (folder / PATTERNS_FILE).write_text(json.dumps(self.patterns, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> RegexEntityExtractor:
        extractor = cls(**params)
        path = folder / PATTERNS_FILE
        if path.is_file():
            patterns = json.loads(path.read_text(encoding="utf-8"))
            extractor.patterns = [_upgraded(p) for p in patterns] if extractor.use_word_boundaries else patterns
        extractor._compile()
        return extractor


_LEGACY = re.compile(r"\\b\(\?:(?P<inner>.*)\)\\b", re.DOTALL)


def _upgraded(entry: dict[str, str]) -> dict[str, str]:
    """A pattern saved before boundaries were script-aware (``\\b(?:...)\\b``) with the script-aware boundary."""
    match = _LEGACY.fullmatch(entry.get("pattern", ""))
    if match is None:
        return entry
    return {**entry, "pattern": f"{CJK_BOUNDARY}(?:{match.group('inner')}){CJK_BOUNDARY}"}
