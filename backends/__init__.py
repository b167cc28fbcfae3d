"""Kefu's shop backends: the order service and the recommendation service.

Each service is domain logic importable in process (``backends.orders.service.OrderService``,
``backends.recommend.service.Recommender``) with an aiohttp app around it (``create_app`` in each
``app.py``). The simulator calls the domain logic directly (``backends.simulation``: a seeded in-memory
order database, every write rolled back); the action server calls the apps over HTTP.
Nothing here imports aiohttp at package import time, nor any other Kefu package.
"""

from backends.errors import (
    BackendError,
    ConflictError,
    InvalidRequest,
    NotFound,
)

__all__ = ["BackendError", "ConflictError", "InvalidRequest", "NotFound"]
