"""Where the backends are, read once per process from the environment."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from actions.constants import (
    DEFAULT_ORDERS_URL,
    DEFAULT_RECO_URL,
    DEFAULT_TIMEOUT_S,
    ENV_BACKEND_TIMEOUT,
    ENV_ORDERS_URL,
    ENV_RECO_URL,
)


@dataclass(frozen=True)
class ActionSettings:
    """:param orders_url: base URL of the order service
    :param reco_url: base URL of the recommendation service
    :param timeout_s: total time allowed for one backend call
    """

    orders_url: str = DEFAULT_ORDERS_URL
    reco_url: str = DEFAULT_RECO_URL
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ActionSettings:
        raw_timeout = environ.get(ENV_BACKEND_TIMEOUT, str(DEFAULT_TIMEOUT_S))
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise ValueError(f"{ENV_BACKEND_TIMEOUT} must be a number of seconds, got {raw_timeout!r}") from exc
        return cls(environ.get(ENV_ORDERS_URL, DEFAULT_ORDERS_URL).rstrip("/"),
                   environ.get(ENV_RECO_URL, DEFAULT_RECO_URL).rstrip("/"), timeout)


@functools.cache
def get_settings() -> ActionSettings:
    """The process's settings (the environment is read on first use only)."""
    return ActionSettings.from_env()
