"""Train the two-tower recommender on the synthetic shop's logs and evaluate it on a time-split holdout.

``train_recommender(config, out_dir)`` generates the catalog, shoppers and interaction log, embeds item texts
with MiniLM, trains with in-batch negatives (progress bar), then reports Recall@10 and NDCG@10 of the two-tower
model and of a popularity baseline on the purchases after the time cutoff, and how many of the top 5 are
fitting accessories right after a phone purchase. It writes the model directory the recommendation service
loads, ``report.json`` and ``training.png``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backends.catalog import CATEGORIES, Catalog, generate_catalog
from backends.constants import EVENT_PURCHASE, EVENT_TYPES
from backends.recommend.interactions import (
    Interaction,
    TimeSplit,
    generate_interactions,
    histories,
    time_split,
)
from backends.recommend.model import (
    ItemFeatures,
    TwoTowerModel,
    in_batch_softmax_loss,
    pad_histories,
)
from backends.recommend.text_encoder import encode_cached
from backends.recommend.train_config import TrainConfig
from backends.shoppers import DEMO_SHOPPERS, generate_shoppers

CATALOG_FILE = "catalog.json"
TEXT_FILE = "item_text.npy"
VECTORS_FILE = "item_vectors.npy"
LOG_FILE = "interactions.json"
USERS_FILE = "users.json"
REPORT_FILE = "report.json"
PLOT_FILE = "training.png"


@dataclass
class TrainResult:
    model: TwoTowerModel
    catalog: Catalog
    log: list[Interaction]
    report: dict[str, Any]
    losses: list[float] = field(default_factory=list)


def build_world(config: TrainConfig) -> tuple[Catalog, list, list[Interaction]]:
    """The catalog, the shoppers (synthetic + demo) and their interaction log for ``config.seed``."""
    catalog = generate_catalog(config.seed)
    shoppers = generate_shoppers(config.n_shoppers, config.seed, catalog)
    log = generate_interactions(catalog, shoppers, n_days=config.n_days, seed=config.seed)
    return catalog, [*shoppers, *DEMO_SHOPPERS], log


def _encode(history: Sequence[Interaction], position: dict[str, int]) -> list[tuple[int, int]]:
    return [(position[e.item_id], EVENT_TYPES.index(e.event)) for e in history]


def training_examples(train: Sequence[Interaction], catalog: Catalog, max_history: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every purchase with the events before it: ``(history items, history events, target)``."""
    position = {item.item_id: i for i, item in enumerate(catalog)}
    rows: list[list[tuple[int, int]]] = []
    targets: list[int] = []
    for events in histories(train).values():
        encoded = _encode(events, position)
        for j, event in enumerate(events):
            if event.event == EVENT_PURCHASE:
                rows.append(encoded[max(0, j - max_history):j])
                targets.append(position[event.item_id])
    items, kinds = pad_histories(rows, max_history)
    return items, kinds, torch.tensor(targets, dtype=torch.long)


def ranking_metrics(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> dict[str, float]:
    """Mean Recall@k (hits / min(|relevant|, k)) and NDCG@k with binary relevance."""
    recalls, ndcgs = [], []
    for top, truth in zip(ranked, relevant, strict=True):
        top = list(top)[:k]
        hits = [1.0 if item in truth else 0.0 for item in top]
        recalls.append(sum(hits) / min(len(truth), k))
        dcg = sum(h / math.log2(rank + 2) for rank, h in enumerate(hits))
        idcg = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(truth), k)))
        ndcgs.append(dcg / idcg)
    n = max(1, len(recalls))
    return {f"recall@{k}": sum(recalls) / n, f"ndcg@{k}": sum(ndcgs) / n, "users": len(recalls)}


def _top_k(scores: np.ndarray, exclude: Sequence[set[int]], k: int) -> list[list[int]]:
    scores = scores.copy()
    for row, seen in enumerate(exclude):
        if seen:
            scores[row, list(seen)] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k].tolist()


@torch.no_grad()
def user_vectors(model: TwoTowerModel, rows: list[list[tuple[int, int]]], batch_size: int = 512) -> np.ndarray:
    model.eval()
    items = model.all_items()
    out = []
    for start in range(0, len(rows), batch_size):
        history, kinds = pad_histories(rows[start:start + batch_size], model.params.max_history)
        out.append(model.users(history, kinds, items).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.params.dim), dtype=np.float32)


def evaluate(model: TwoTowerModel, catalog: Catalog, split: TimeSplit, k: int = 10) -> dict[str, Any]:
    """Two-tower vs popularity on the holdout; both never recommend what the user already purchased."""
    position = {item.item_id: i for i, item in enumerate(catalog)}
    train_by_user = histories(split.train)
    users = sorted(split.holdout)
    rows = [_encode(train_by_user[u], position) for u in users]
    purchased = [{position[e.item_id] for e in train_by_user[u] if e.event == EVENT_PURCHASE} for u in users]
    relevant = [{position[i] for i in split.holdout[u]} for u in users]
    with torch.no_grad():
        item_matrix = model.all_items().numpy()
    model_scores = user_vectors(model, rows) @ item_matrix.T
    counts = Counter(position[e.item_id] for e in split.train if e.event == EVENT_PURCHASE)
    popularity = np.array([counts.get(i, 0) for i in range(len(catalog))], dtype=np.float64)
    pop_scores = np.tile(popularity, (len(users), 1))
    model_top = _top_k(model_scores, purchased, k)
    pop_top = _top_k(pop_scores, purchased, k)
    two_tower = ranking_metrics(model_top, relevant, k)
    baseline = ranking_metrics(pop_top, relevant, k)
    ratio = two_tower[f"recall@{k}"] / max(baseline[f"recall@{k}"], 1e-9)
    first = [{position[split.holdout[u][0]]} for u in users]
    next_purchase = {"two_tower": ranking_metrics(model_top, first, k), "popularity": ranking_metrics(pop_top, first, k)}
    return {"two_tower": two_tower, "popularity": baseline, "recall_ratio": ratio, "next_purchase": next_purchase,
            "holdout_users": len(users), "cutoff_ts": split.cutoff}


def complement_probe(model: TwoTowerModel, catalog: Catalog, top_n: int = 5,
                     anchor_category: str = "phone") -> dict[str, Any]:
    """For a new shopper whose only event is buying each phone: how many of the top ``top_n`` fit it."""
    position = {item.item_id: i for i, item in enumerate(catalog)}
    anchors = catalog.in_category(anchor_category)
    rows = [[(position[a.item_id], EVENT_TYPES.index(EVENT_PURCHASE))] for a in anchors]
    with torch.no_grad():
        items = model.all_items().numpy()
    top = _top_k(user_vectors(model, rows) @ items.T, [{position[a.item_id]} for a in anchors], top_n)
    counts = [sum(catalog.is_complement(catalog.items[i], anchor) for i in ranked)
              for ranked, anchor in zip(top, anchors, strict=True)]
    examples = {anchor.title: [catalog.items[i].title for i in ranked] for anchor, ranked in
                list(zip(anchors, top, strict=True))[:3]}
    return {"anchor_category": anchor_category, "top_n": top_n, "mean_complements": float(np.mean(counts)),
            "min_complements": int(min(counts)), "share_with_3_or_more": float(np.mean([c >= 3 for c in counts])),
            "per_anchor": {a.title: c for a, c in zip(anchors, counts, strict=True)}, "examples": examples}


def length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator,
                            chunk_batches: int = 32) -> list[torch.Tensor]:
    """Shuffled batches of similar history length (chunks of ``chunk_batches`` batches sorted by length)."""
    order = torch.randperm(len(lengths), generator=generator)
    batches: list[torch.Tensor] = []
    chunk = batch_size * chunk_batches
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[torch.argsort(lengths[part], stable=True)]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def train_recommender(
    config: TrainConfig | None = None,
    out_dir: Path | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train, evaluate and (with ``out_dir``) save a two-tower model.

    :param cache_dir: where MiniLM item-text embeddings are cached between runs
    :param progress: show a tqdm bar over the training steps
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(config.n_threads)
    try:
        return _train(config, out_dir, cache_dir, progress, on_epoch, started)
    finally:
        torch.set_num_threads(threads)


def _train(config: TrainConfig, out_dir: Path | None, cache_dir: Path | None, progress: bool,
           on_epoch: Callable[[int, float], None] | None, started: float) -> TrainResult:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    catalog, shoppers, log = build_world(config)
    split = time_split(log, config.train_fraction)
    text = encode_cached([item.text for item in catalog], cache_dir)
    encoded_at = time.perf_counter()
    features = ItemFeatures.from_catalog(catalog, text)
    model = TwoTowerModel(config.params(catalog), features)
    history, kinds, targets = training_examples(split.train, catalog, config.max_history)
    lengths = (history >= 0).sum(dim=1)
    counts = torch.bincount(targets, minlength=len(catalog)).float() + 1.0
    log_q = config.logq_weight * (counts / counts.sum()).log() if config.logq_weight else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = sum(1 for b in length_bucketed_batches(lengths, config.batch_size, torch.Generator())
                          if len(b) >= 2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate,
                                                    total_steps=steps_per_epoch * config.n_epochs, pct_start=0.2)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps_per_epoch * config.n_epochs, desc="two-tower", unit="step", leave=True)
    for epoch in range(config.n_epochs):
        model.train()
        total, seen = 0.0, 0
        for batch in length_bucketed_batches(lengths, config.batch_size, generator):
            if len(batch) < 2:
                continue
            width = max(1, int(lengths[batch].max()))
            items = model.all_items()
            users = model.users(history[batch, -width:], kinds[batch, -width:], items)
            loss = in_batch_softmax_loss(users, items[targets[batch]], targets[batch], config.temperature, log_q)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
            seen += len(batch)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        losses.append(total / max(1, seen))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    if bar is not None:
        bar.close()
    model.eval()
    trained_at = time.perf_counter()
    metrics = evaluate(model, catalog, split, config.k)
    probe = complement_probe(model, catalog)
    report = {
        "config": asdict(config),
        "data": {"items": len(catalog), "shoppers": len(shoppers), "events": len(log),
                 "purchases": sum(e.event == EVENT_PURCHASE for e in log), "train_examples": len(targets),
                 "categories": len(CATEGORIES), "train_fraction": config.train_fraction},
        "metrics": metrics,
        "complements_after_phone": probe,
        "losses": losses,
        "timing_s": {"text_encoding": round(encoded_at - started, 2), "training": round(trained_at - encoded_at, 2),
                     "total": round(time.perf_counter() - started, 2)},
        "machine": {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
    }
    result = TrainResult(model, catalog, log, report, losses)
    if out_dir is not None:
        save_artifacts(result, shoppers, Path(out_dir))
    return result


def save_artifacts(result: TrainResult, shoppers: Sequence, out_dir: Path) -> None:
    """The model directory ``RecommenderService.load`` reads, plus ``report.json`` and ``training.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.model.save(out_dir)
    np.save(out_dir / TEXT_FILE, result.model.features.text)
    with torch.no_grad():
        np.save(out_dir / VECTORS_FILE, result.model.all_items().numpy())
    (out_dir / CATALOG_FILE).write_text(json.dumps(result.catalog.to_json(), indent=1) + "\n")
    (out_dir / LOG_FILE).write_text(json.dumps([e.to_row() for e in result.log]) + "\n")
    (out_dir / USERS_FILE).write_text(json.dumps({s.email: s.user_id for s in shoppers}, indent=0) + "\n")
    (out_dir / REPORT_FILE).write_text(json.dumps(result.report, indent=2) + "\n")
    plot_report(result.report, out_dir / PLOT_FILE)


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Training loss per epoch, and Recall@10 / NDCG@10 of the two-tower model vs popularity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = report["metrics"]
    k = report["config"]["k"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(range(1, len(report["losses"]) + 1), report["losses"], marker="o")
    left.set(title="in-batch softmax loss", xlabel="epoch", ylabel="loss")
    nxt = metrics["next_purchase"]
    groups = [("next\nRecall", nxt, f"recall@{k}"), ("next\nNDCG", nxt, f"ndcg@{k}"),
              ("all later\nRecall", metrics, f"recall@{k}"), ("all later\nNDCG", metrics, f"ndcg@{k}")]
    x = np.arange(len(groups))
    right.bar(x - 0.2, [source["two_tower"][key] for _, source, key in groups], 0.4, label="two-tower")
    right.bar(x + 0.2, [source["popularity"][key] for _, source, key in groups], 0.4, label="popularity")
    right.set_xticks(x, [label for label, _, _ in groups])
    right.set(title=f"@{k} on the time-split holdout ({metrics['holdout_users']} shoppers)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_report(report: dict[str, Any]) -> str:
    """A short plain-text summary of ``report``."""
    m, k = report["metrics"], report["config"]["k"]
    probe = report["complements_after_phone"]
    return "\n".join([
        f"items {report['data']['items']}, shoppers {report['data']['shoppers']}, events {report['data']['events']}, "
        f"train examples {report['data']['train_examples']}, holdout shoppers {m['holdout_users']}",
        f"two-tower  Recall@{k} {m['two_tower'][f'recall@{k}']:.3f}  NDCG@{k} {m['two_tower'][f'ndcg@{k}']:.3f}",
        f"popularity Recall@{k} {m['popularity'][f'recall@{k}']:.3f}  NDCG@{k} {m['popularity'][f'ndcg@{k}']:.3f}",
        f"Recall ratio {m['recall_ratio']:.2f}x; after a phone purchase {probe['mean_complements']:.2f} of the top 5 "
        f"fit it (min {probe['min_complements']}, {probe['share_with_3_or_more']:.0%} of phones with >= 3)",
        f"time: text encoding {report['timing_s']['text_encoding']} s, training {report['timing_s']['training']} s",
    ])
