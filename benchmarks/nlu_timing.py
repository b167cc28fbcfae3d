"""How fast an NLU pipeline answers: single-message latency and batched throughput (shared by the NLU benchmarks)."""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any


def latency(pipeline: Any, texts: list[str], n: int) -> dict[str, float]:
    """p50/p99/mean milliseconds of ``pipeline.parse`` over ``n`` messages (``texts`` cycled), after 20 warm-up calls."""
    for text in texts[:20]:
        pipeline.parse(text)
    times = []
    for text in itertools.islice(itertools.cycle(texts), n):
        started = time.perf_counter()
        pipeline.parse(text)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "messages": len(times),
    }


def throughput(pipeline: Any, texts: list[str], batch: int = 64) -> float:
    """Messages per second through ``pipeline.parse_batch`` in batches of ``batch``."""
    pipeline.parse_batch(texts[:batch])
    started = time.perf_counter()
    for begin in range(0, len(texts), batch):
        pipeline.parse_batch(texts[begin : begin + batch])
    return round(len(texts) / (time.perf_counter() - started), 1)
