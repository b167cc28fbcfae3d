"""Read YAML files the way a user's project needs: with positions and friendly errors.

Every mapping comes back as a :class:`PosDict` and every sequence as a :class:`PosList`; both
remember where they and their items start in the file (1-based line and column), so that
later checks can say ``data/stories.yml:14:9: unknown intent ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.errors import UserFileError

Position = tuple[int, int]


class PosDict(dict):
    """A ``dict`` that knows the position of itself, each key and each value."""

    line: int = 0
    col: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_pos: dict[Any, Position] = {}
        self.value_pos: dict[Any, Position] = {}

    def pos(self, key: Any = None) -> Position:
        """Position of ``key`` (or of the mapping itself when ``key`` is None or absent)."""
        if key is not None and key in self.key_pos:
            return self.key_pos[key]
        return (self.line, self.col)

    def vpos(self, key: Any) -> Position:
        """Position of the value stored under ``key``."""
        return self.value_pos.get(key, self.pos(key))


class PosList(list):
    """A ``list`` that knows the position of itself and of each item."""

    line: int = 0
    col: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_pos: list[Position] = []

    def pos(self, index: int | None = None) -> Position:
        if index is not None and 0 <= index < len(self.item_pos):
            return self.item_pos[index]
        return (self.line, self.col)


class ScalarStr(str):
    """A string scalar that remembers its position and block style (``|`` or ``>``)."""

    line: int = 0
    col: int = 0
    style: str | None = None


def _mark(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Converter:
    """Turns a composed YAML node tree into positioned Python objects."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.constructor = SafeConstructor()

    def convert(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node)
        if isinstance(node, SequenceNode):
            result = PosList()
            result.line, result.col = _mark(node)
            for item in node.value:
                result.append(self.convert(item))
                result.item_pos.append(_mark(item))
            return result
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str) and isinstance(node, ScalarNode):
            value = ScalarStr(value)
            value.line, value.col = _mark(node)
            value.style = node.style
        return value

    def _mapping(self, node: MappingNode) -> PosDict:
        try:
            self.constructor.flatten_mapping(node)
        except ConstructorError as exc:
            raise _error_from_marked(self.path, exc) from None
        result = PosDict()
        result.line, result.col = _mark(node)
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            if isinstance(key, (dict, list)):
                line, col = _mark(key_node)
                raise UserFileError(self.path, line, col, "a mapping key must be a plain value, not a list or mapping")
            if key in result:
                line, col = _mark(key_node)
                first = result.key_pos[key]
                raise UserFileError(
                    self.path, line, col, f"duplicate key '{key}' (first defined on line {first[0]})"
                )
            result[key] = self.convert(value_node)
            result.key_pos[key] = _mark(key_node)
            result.value_pos[key] = _mark(value_node)
        return result


def _error_from_marked(path: str, exc: yaml.MarkedYAMLError) -> UserFileError:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem or "\\t" in problem:
        message = "tab character used for indentation; YAML needs spaces"
    else:
        message = f"invalid YAML: {problem}"
        if exc.context:
            message += f" ({exc.context})"
    return UserFileError(path, line, col, message)


def read_text(path: str | Path) -> str:
    """Read a file as UTF-8 (a BOM is allowed) or raise :class:`UserFileError` naming the bad byte."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserFileError(path, 0, 0, "file not found") from None
    except IsADirectoryError:
        raise UserFileError(path, 0, 0, "expected a file, found a directory") from None
    except OSError as exc:
        raise UserFileError(path, 0, 0, f"cannot read file: {exc.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise UserFileError(
            path, line, col, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        ) from None


_TAB_INDENT = re.compile(r"^( *)\t", re.MULTILINE)


def load_yaml(path: str | Path, text: str | None = None, allow_empty: bool = False) -> Any:
    """Parse a YAML file into positioned objects.

    :param path: the file (used in error messages; read when ``text`` is None)
    :param text: the file's content, if already read
    :param allow_empty: return None for an empty file instead of raising
    :raises UserFileError: bad encoding, tabs, invalid YAML, duplicate keys, empty file
    """
    path_str = str(path)
    if text is None:
        text = read_text(path)
    match = _TAB_INDENT.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        raise UserFileError(
            path_str, line, len(match.group(1)) + 1, "tab character used for indentation; YAML needs spaces"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _error_from_marked(path_str, exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        raise UserFileError(path_str, 0, 0, f"invalid YAML: {exc}") from None
    if node is None:
        if allow_empty:
            return None
        raise UserFileError(path_str, 1, 1, "file is empty")
    try:
        return _Converter(path_str).convert(node)
    except yaml.MarkedYAMLError as exc:
        raise _error_from_marked(path_str, exc) from None
