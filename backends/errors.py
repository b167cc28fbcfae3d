"""Typed errors of the backends; ``backends.http`` maps them to status codes at the edge.

Every error carries a stable machine-readable ``code`` (the action server branches on it) and a
``message`` a person can read. The domain logic raises them; only the HTTP layer knows about status codes.
"""

from __future__ import annotations

from typing import Any


class BackendError(Exception):
    """Base of every error a backend raises on purpose.

    :param message: what went wrong, in words a shopper-facing action may repeat
    :param code: stable identifier, e.g. ``"not_cancellable"``
    :param details: extra JSON-safe facts (e.g. the order's current status)
    """

    status = 500
    default_code = "backend_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(BackendError):
    """The request is malformed: a missing field, a value out of range (HTTP 400)."""

    status = 400
    default_code = "invalid_request"


class NotFound(BackendError):
    """Nothing matches; for orders this also covers a wrong email/phone, so existence never leaks (HTTP 404)."""

    status = 404
    default_code = "not_found"


class ConflictError(BackendError):
    """The request is valid but the resource's state forbids it, e.g. cancelling a shipped order (HTTP 409)."""

    status = 409
    default_code = "conflict"


class ModelNotReady(BackendError):
    """The recommendation model has not been trained or could not be loaded (HTTP 503)."""

    status = 503
    default_code = "model_not_ready"
