"""Parse the ``nlu:`` section of a training-data file (Rasa 3.x format)."""

from __future__ import annotations

from typing import Any

from bot.errors import Problem, ProblemSink
from bot.loaders.annotation import AnnotationError, parse_annotated
from bot.training_data import NLUData, NLUExample, SourcePos
from bot.yaml_reader import PosDict, PosList, ScalarStr

NLU_ITEM_KEYS = ("intent", "synonym", "regex", "lookup")


def _block_lines(value: ScalarStr, file_lines: list[str]) -> list[tuple[str, int, int]]:
    """Split an ``examples: |`` block into ``(example, line, col)`` with real file positions."""
    out: list[tuple[str, int, int]] = []
    # A block scalar's node starts at the '|' indicator; its content starts on the next line.
    search_from = value.line if value.style in ("|", ">") else value.line - 1
    for raw_line in value.splitlines():
        stripped = raw_line.strip()
        if not stripped:
            continue
        line_no, col = value.line, value.col
        for idx in range(max(search_from, 0), len(file_lines)):
            candidate = file_lines[idx]
            if candidate.strip() == stripped:
                line_no = idx + 1
                col = len(candidate) - len(candidate.lstrip()) + 1
                search_from = idx + 1
                break
        out.append((stripped, line_no, col))
    return out


def _example_items(
    value: Any, pos: tuple[int, int], sink: ProblemSink, file_lines: list[str], section: str
) -> list[tuple[str, dict[str, Any], int, int]]:
    """Normalise both example styles to ``(raw_text, metadata, line, col)``."""
    items: list[tuple[str, dict[str, Any], int, int]] = []
    if isinstance(value, str):
        for stripped, line, col in _block_lines(value, file_lines):
            if not stripped.startswith("-"):
                sink.error((line, col), f"{section}: each example must start with '- ' (found '{stripped[:40]}')")
                continue
            items.append((stripped[1:].strip(), {}, line, col + 2))
        return items
    if isinstance(value, PosList):
        for index, item in enumerate(value):
            ipos = value.pos(index)
            if isinstance(item, PosDict) and "text" in item:
                meta = item.get("metadata") or {}
                if not isinstance(meta, dict):
                    sink.error(item.vpos("metadata"), "example metadata must be a mapping")
                    meta = {}
                items.append((str(item["text"]), dict(meta), *item.vpos("text")))
            elif isinstance(item, str):
                items.append((item, {}, *ipos))
            else:
                sink.error(ipos, f"{section}: each example must be a string or a mapping with 'text'")
        return items
    sink.error(pos, f"{section}: 'examples' must be a block string ('|') or a list")
    return items


def parse_nlu_section(section: Any, path: str, file_lines: list[str], problems: list[Problem]) -> NLUData:
    """Turn the ``nlu:`` list into :class:`NLUData`, appending every problem to ``problems``."""
    sink = ProblemSink(path, problems)
    data = NLUData()
    if not isinstance(section, PosList):
        pos = (getattr(section, "line", 0), getattr(section, "col", 0))
        sink.error(pos, "'nlu' must be a list of intent/synonym/regex/lookup items")
        return data
    for index, item in enumerate(section):
        pos = section.pos(index)
        if not isinstance(item, PosDict):
            sink.error(pos, "each 'nlu' item must be a mapping with 'intent', 'synonym', 'regex' or 'lookup'")
            continue
        kinds = [k for k in NLU_ITEM_KEYS if k in item]
        if len(kinds) != 1:
            sink.error(pos, "each 'nlu' item needs exactly one of 'intent', 'synonym', 'regex', 'lookup'")
            continue
        kind = kinds[0]
        name = item[kind]
        if not isinstance(name, str) or not name.strip():
            sink.error(item.vpos(kind), f"'{kind}' must be a non-empty name")
            continue
        unknown = set(item) - {kind, "examples", "metadata"}
        for key in sorted(unknown, key=str):
            sink.warning(item.pos(key), f"unknown key '{key}' in {kind} '{name}' (ignored)")
        if "examples" not in item:
            sink.error(item.pos(kind), f"{kind} '{name}' has no 'examples'")
            continue
        examples = _example_items(item["examples"], item.vpos("examples"), sink, file_lines, f"{kind} '{name}'")
        if kind == "intent":
            common_meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            for raw, meta, line, col in examples:
                try:
                    text, entities = parse_annotated(raw)
                except AnnotationError as exc:
                    sink.error((line, col + exc.offset), f"{exc} in example '{raw}' of intent '{name}'")
                    continue
                if not text.strip():
                    sink.error((line, col), f"empty example under intent '{name}'")
                    continue
                data.examples.append(
                    NLUExample(
                        text=text,
                        intent=str(name),
                        entities=entities,
                        metadata={**dict(common_meta), **meta},
                        source=SourcePos(path, line, col),
                    )
                )
                for span in entities:
                    if span.value is not None and str(span.value) != span.text:
                        data.synonyms[span.text.lower()] = str(span.value)
                        data.synonym_sources.setdefault(span.text.lower(), SourcePos(path, line, col))
        elif kind == "synonym":
            for raw, _meta, line, col in examples:
                data.synonyms[raw.lower()] = str(name)
                data.synonym_sources[raw.lower()] = SourcePos(path, line, col)
        elif kind == "regex":
            import re

            for raw, _meta, line, col in examples:
                try:
                    re.compile(raw)
                except re.error as exc:
                    sink.error((line, col), f"regex '{name}': invalid pattern '{raw}': {exc}")
                    continue
                data.regexes.append((str(name), raw))
        else:
            data.lookups.setdefault(str(name), []).extend(raw for raw, *_ in examples)
    return data
