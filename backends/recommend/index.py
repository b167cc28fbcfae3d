"""Top-k search over item vectors: exact matmul in numpy, or faiss when it is installed.

Both return the same ``(scores, indices)`` for inner-product search over unit vectors. ``make_index("auto")``
picks exact matmul below ``FAISS_MIN_ITEMS`` items (a few hundred items: one matmul is microseconds) and faiss
above it when available; ``benchmarks/reco_bench.py`` measures where the crossover lies.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

FAISS_MIN_ITEMS = 50_000


class ItemIndex(Protocol):
    name: str

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class ExactIndex:
    """Brute-force inner product: ``queries @ vectors.T`` then ``argpartition``."""

    name = "exact-matmul"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return np.atleast_2d(queries).astype(np.float32, copy=False) @ self.vectors.T

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(queries)
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)


class FaissIndex:
    """faiss ``IndexFlatIP`` (exact) or ``IndexHNSWFlat`` (approximate, ``hnsw_m`` links per node)."""

    def __init__(self, vectors: np.ndarray, kind: str = "flat", hnsw_m: int = 32, ef_search: int = 64) -> None:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"unknown faiss index kind {kind!r}; expected 'flat' or 'hnsw'")
        self.index.add(vectors)
        self.name = f"faiss-{kind}"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        return self.index.search(queries, min(k, self.index.ntotal))


def make_index(vectors: np.ndarray, kind: str = "auto") -> ItemIndex:
    """``kind``: "exact", "faiss" (flat), "faiss-hnsw" or "auto"."""
    if kind == "auto":
        kind = "faiss" if len(vectors) >= FAISS_MIN_ITEMS and faiss_available() else "exact"
    if kind == "exact":
        return ExactIndex(vectors)
    if kind in ("faiss", "faiss-flat"):
        return FaissIndex(vectors, "flat")
    if kind == "faiss-hnsw":
        return FaissIndex(vectors, "hnsw")
    raise ValueError(f"unknown index kind {kind!r}; expected exact, faiss, faiss-hnsw or auto")
