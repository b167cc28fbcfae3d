"""Read ``endpoints.yml`` (with ``${ENV_VAR}`` interpolation, as Rasa does) and ``credentials.yml``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import UserFileError
from bot.yaml_reader import PosDict, ScalarStr, load_yaml, read_text

_ENV_VAR = re.compile(r"\$\{([^}]+)\}")
ENDPOINT_KEYS = {"action_endpoint", "tracker_store", "lock_store", "event_broker", "models", "nlg", "nlu"}


def _interpolate(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        out = PosDict({k: _interpolate(v, path) for k, v in value.items()})
        if isinstance(value, PosDict):
            out.line, out.col, out.key_pos, out.value_pos = value.line, value.col, value.key_pos, value.value_pos
        return out
    if isinstance(value, list):
        return [_interpolate(v, path) for v in value]
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                line, col = (value.line, value.col) if isinstance(value, ScalarStr) else (0, 0)
                raise UserFileError(path, line, col, f"environment variable '{name}' is not set (used as ${{{name}}})")
            return os.environ[name]

        return _ENV_VAR.sub(replace, value)
    return value


@dataclass
class Endpoints:
    """Parsed ``endpoints.yml``: each section is a plain dict (or None when absent)."""

    action_endpoint: dict[str, Any] | None = None
    tracker_store: dict[str, Any] | None = None
    lock_store: dict[str, Any] | None = None
    event_broker: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def action_url(self) -> str | None:
        return (self.action_endpoint or {}).get("url")


def load_endpoints(path: str | Path | None) -> Endpoints:
    """Read ``endpoints.yml``; a missing file means all defaults (in-memory stores, no action server)."""
    if path is None or not Path(path).exists():
        return Endpoints()
    path_str = str(path)
    doc = load_yaml(path_str, read_text(path_str), allow_empty=True)
    if doc is None:
        return Endpoints()
    if not isinstance(doc, dict):
        raise UserFileError(path_str, 1, 1, "endpoints file must be a mapping (action_endpoint, tracker_store, ...)")
    doc = _interpolate(doc, path_str)
    endpoints = Endpoints()
    for key, value in doc.items():
        if value is not None and not isinstance(value, dict):
            line, col = doc.vpos(key) if isinstance(doc, PosDict) else (0, 0)
            raise UserFileError(path_str, line, col, f"'{key}' must be a mapping (e.g. url: ...)")
        if key in ENDPOINT_KEYS and hasattr(endpoints, key):
            setattr(endpoints, key, dict(value) if value is not None else None)
        else:
            endpoints.other[key] = value
    return endpoints


def load_credentials(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Read ``credentials.yml``: channel name → its settings (``rest:`` with no settings gives ``{}``)."""
    if path is None or not Path(path).exists():
        return {"rest": {}}
    path_str = str(path)
    doc = load_yaml(path_str, allow_empty=True)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UserFileError(path_str, 1, 1, "credentials file must be a mapping of channel name to settings")
    doc = _interpolate(doc, path_str)
    out: dict[str, dict[str, Any]] = {}
    for key, value in doc.items():
        if value is not None and not isinstance(value, dict):
            line, col = doc.vpos(key) if isinstance(doc, PosDict) else (0, 0)
            raise UserFileError(path_str, line, col, f"settings of channel '{key}' must be a mapping")
        out[str(key)] = dict(value or {})
    return out
