"""One store section of endpoints.yml, read once with casts whose errors name the key.

Values arrive as YAML scalars or, after ``${ENV_VAR}`` interpolation, as strings: ``port: ${REDIS_PORT}``
gives ``"6379"`` and ``use_ssl: ${REDIS_SSL}`` gives ``"false"``, so every getter accepts both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bot.stores.errors import StoreConfigError

logger = logging.getLogger(__name__)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class EndpointSection:
    """Typed access to ``tracker_store:`` or ``lock_store:``.

    :param name: the section's name in endpoints.yml, used in messages (``tracker_store``)
    :param config: the section as loaded (None when absent)
    :param path: the endpoints file, used in messages
    """

    def __init__(self, name: str, config: Mapping[str, Any] | None, path: str = "endpoints.yml") -> None:
        if config is not None and not isinstance(config, Mapping):
            raise StoreConfigError(path, 0, 0, f"'{name}' must be a mapping (type: ..., url: ...)")
        self.name = name
        self.path = str(path)
        self.config: dict[str, Any] = dict(config or {})

    def error(self, key: str, message: str) -> StoreConfigError:
        return StoreConfigError(self.path, 0, 0, f"{self.name}.{key}: {message}")

    def _raw(self, key: str) -> Any:
        value = self.config.get(key)
        if isinstance(value, str) and not value.strip():
            return None  # `password: ${REDIS_PASSWORD}` with an empty variable means "none"
        return value

    @property
    def type(self) -> str | None:
        value = self._raw("type")
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error("type", f"expected a store name, got {value!r}")
        return value.strip()

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, (dict, list, bool)):
            raise self.error(key, f"expected a string, got {value!r}")
        return str(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise self.error(key, f"expected an integer, got {value!r}")
        try:
            return int(str(value).strip())
        except ValueError:
            raise self.error(key, f"expected an integer, got {value!r}") from None

    def get_float(self, key: str, default: float | None = None) -> float | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise self.error(key, f"expected a number, got {value!r}")
        try:
            number = float(str(value).strip())
        except ValueError:
            raise self.error(key, f"expected a number, got {value!r}") from None
        if number < 0:
            raise self.error(key, f"expected a number >= 0, got {value!r}")
        return number

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(key, f"expected true or false, got {value!r}")

    def get_dict(self, key: str) -> dict[str, Any]:
        value = self._raw(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}

    def warn_unknown(self, known: Iterable[str], store: str) -> None:
        """Log the keys that ``store`` does not read (Rasa ignores them too, so this is no error)."""
        unknown = sorted(set(self.config) - set(known) - {"type"})
        if unknown:
            logger.warning(
                "%s: %s: %s ignores %s (it reads %s)",
                self.path, self.name, store, ", ".join(unknown), ", ".join(sorted(known)),
            )
