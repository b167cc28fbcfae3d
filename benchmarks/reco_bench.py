#!/usr/bin/env python
"""Recommender benchmark: holdout quality vs popularity, training time, and item-index latency.

    python benchmarks/reco_bench.py                       # train the default model, then measure
    python benchmarks/reco_bench.py --model-dir models/recommender   # reuse a trained model and its report

Quality: Recall@10 / NDCG@10 of the two-tower model and of a popularity baseline on a time-split holdout (the
first purchase after the cutoff, and every later purchase), plus fitting complements in the top 5 after a phone.
Latency: top-10 search for one query over the real item vectors and over synthetic unit vectors of growing
size, with exact numpy matmul, faiss IndexFlatIP (exact) and faiss HNSW (approximate, with its recall vs exact),
and the end-to-end ``Recommender.recommend`` time. Prints a table, writes JSON (+ a latency PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from backends.recommend.index import ExactIndex, FaissIndex, faiss_available  # noqa: E402
from backends.recommend.service import Recommender  # noqa: E402
from backends.recommend.train import TrainConfig, train_recommender  # noqa: E402


def time_queries(index, queries: np.ndarray, k: int = 10) -> dict[str, float]:
    for query in queries[:5]:
        index.search(query[None, :], k)  # warm-up
    times = []
    for query in queries:
        started = time.perf_counter()
        index.search(query[None, :], k)
        times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    started = time.perf_counter()
    index.search(queries, k)
    batch_ms = (time.perf_counter() - started) * 1e3
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))],
            "batch_per_query_ms": batch_ms / len(queries)}


def index_latency(vectors: np.ndarray, n_queries: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(n_queries, vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows = []
    exact = ExactIndex(vectors)
    rows.append({"index": "exact-matmul", "items": len(vectors), "build_s": 0.0, **time_queries(exact, queries)})
    if faiss_available():
        _, truth = exact.search(queries, 10)
        for kind in ("flat", "hnsw"):
            started = time.perf_counter()
            index = FaissIndex(vectors, kind)
            build = time.perf_counter() - started
            _, found = index.search(queries, 10)
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)]))
            rows.append({"index": index.name, "items": len(vectors), "build_s": build, "recall_vs_exact": recall,
                         **time_queries(index, queries)})
    return rows


def synthetic(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", help="reuse this trained model and its report.json instead of training")
    parser.add_argument("--out-model", default=str(REPO_ROOT / "models" / "recommender-bench"))
    parser.add_argument("--shoppers", type=int, default=TrainConfig().n_shoppers)
    parser.add_argument("--epochs", type=int, default=TrainConfig().n_epochs)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="synthetic index sizes for the latency sweep")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "reco_bench.json"))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    if args.model_dir:
        model_dir = Path(args.model_dir)
        report = json.loads((model_dir / "report.json").read_text())
    else:
        model_dir = Path(args.out_model)
        config = TrainConfig(n_shoppers=args.shoppers, n_epochs=args.epochs, seed=args.seed)
        report = train_recommender(config, out_dir=model_dir, cache_dir=REPO_ROOT / ".kefu" / "cache").report

    import torch

    torch.set_num_threads(1)  # as the service runs (see backends/cli.py)
    recommender = Recommender.load(model_dir, index="exact")
    latency = index_latency(recommender.item_vectors, args.queries, args.seed)
    dim = recommender.item_vectors.shape[1]
    for n in args.sizes:
        latency += index_latency(synthetic(n, dim, args.seed), args.queries, args.seed)
    users = sorted(recommender.histories)[: args.queries]
    times = []
    for user in users:
        started = time.perf_counter()
        recommender.recommend(user, k=10)
        times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    end_to_end = {"users": len(users), "p50_ms": statistics.median(times), "p99_ms": times[int(0.99 * (len(times) - 1))]}

    metrics, k = report["metrics"], report["config"]["k"]
    result = {
        "dataset": {"name": "Kefu synthetic shop (seeded)", **report["data"],
                    "split": f"time split at the {report['config']['train_fraction']:.0%} purchase quantile"},
        "model": {"name": "two-tower (MiniLM item text + Transformer user tower)", "config": report["config"]},
        "quality": {
            "next_purchase": metrics["next_purchase"],
            "all_later_purchases": {"two_tower": metrics["two_tower"], "popularity": metrics["popularity"]},
            "holdout_users": metrics["holdout_users"],
            "complements_after_phone": {key: report["complements_after_phone"][key]
                                        for key in ("mean_complements", "min_complements", "share_with_3_or_more")},
        },
        "training_time_s": report["timing_s"],
        "index_latency": latency,
        "recommend_end_to_end": end_to_end,
        "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "faiss": faiss_available()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    _plot(latency, out.with_suffix(".png"))
    _print(result, k)
    print(f"written {out} and {out.with_suffix('.png')}")
    return 0


def _print(result: dict, k: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    quality = Table(title=f"holdout quality ({result['quality']['holdout_users']} shoppers)")
    for column in ("protocol", "model", f"Recall@{k}", f"NDCG@{k}"):
        quality.add_column(column)
    for protocol, source in (("next purchase", result["quality"]["next_purchase"]),
                             ("all later purchases", result["quality"]["all_later_purchases"])):
        for model in ("two_tower", "popularity"):
            quality.add_row(protocol, model, f"{source[model][f'recall@{k}']:.3f}", f"{source[model][f'ndcg@{k}']:.3f}")
    console.print(quality)
    comp = result["quality"]["complements_after_phone"]
    console.print(f"complements in the top 5 after a phone purchase (raw model): mean {comp['mean_complements']:.2f}, "
                  f"min {comp['min_complements']}; training {result['training_time_s']['training']} s")
    table = Table(title="top-10 search latency (one query; batch = per query in a batch)")
    for column in ("index", "items", "p50 ms", "p99 ms", "batch ms/q", "build s", "recall vs exact"):
        table.add_column(column)
    for row in result["index_latency"]:
        table.add_row(row["index"], f"{row['items']:,}", f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}",
                      f"{row['batch_per_query_ms']:.4f}", f"{row['build_s']:.2f}",
                      f"{row.get('recall_vs_exact', 1.0):.3f}")
    console.print(table)
    e2e = result["recommend_end_to_end"]
    console.print(f"Recommender.recommend end to end: p50 {e2e['p50_ms']:.2f} ms, p99 {e2e['p99_ms']:.2f} ms")


def _plot(latency: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(row["index"] for row in latency):
        rows = sorted((r for r in latency if r["index"] == name), key=lambda r: r["items"])
        ax.plot([r["items"] for r in rows], [r["p50_ms"] for r in rows], marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="items in the index", ylabel="p50 latency per query (ms)",
           title="top-10 inner-product search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
