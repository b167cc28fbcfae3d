"""Shared helpers for the NLU tests: the tiny fixture project and a fast training config."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY_NLU = FIXTURES / "tiny_nlu.yml"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_NLU = REPO_ROOT / "data" / "nlu.yml"


def tiny_config(**transformer: Any) -> list[dict[str, Any]]:
    """A Rasa-style pipeline (with Rasa names Kefu skips) and a transformer that trains in seconds."""
    params: dict[str, Any] = {
        "name": "KefuTransformerClassifier",
        "epochs": 10,
        "trainable_layers": 1,
        "learning_rate": 2e-4,
        "head_learning_rate": 5e-3,
        "max_length": 32,
        "batch_size": 32,
        "validation_fraction": 0.0,
        "sentiment_weight": 1.0,
    }
    params.update(transformer)
    return [
        {"name": "WhitespaceTokenizer"},
        {"name": "RegexFeaturizer"},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "RegexEntityExtractor"},
        params,
        {"name": "EntitySynonymMapper"},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
    ]


@contextmanager
def no_network() -> Iterator[None]:
    """Make every non-loopback connection fail, as on a machine with no network."""
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def _is_local(address: Any) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.") or host.startswith("/"))

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise OSError("network unreachable (blocked by the test)")
        return real_connect(self, address)

    def guarded_create(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not _is_local(address):
            raise OSError("network unreachable (blocked by the test)")
        return real_create(address, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.create_connection = guarded_create  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.create_connection = real_create
