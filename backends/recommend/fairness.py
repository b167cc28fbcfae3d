"""Recommendation fairness over shopper groups: exposure (demographic parity) and recall (equal opportunity).

For each shopper in the time-split holdout, the model's top-k list (already purchased items excluded) gives

- **exposure**: the position-weighted share of the list taken by *premium* items (the top price third of
  their category), ``sum_r w_r [item_r premium] / sum_r w_r`` with ``w_r = 1 / log2(r + 2)``;
- **recall**: Recall@k against the shopper's holdout purchases.

The demographic-parity gap is the largest difference in mean exposure between two groups, the
equal-opportunity gap the largest difference in mean Recall@k. The optional re-ranking constraint adds
a per-group score offset to premium items, found by bisection, so every group's exposure lies within
``max_gap / 2`` of the overall mean (so the parity gap is at most ``max_gap``); its cost is the change in
Recall@k.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backends.catalog import Catalog
from backends.constants import EVENT_PURCHASE
from backends.recommend.interactions import TimeSplit, histories, time_split
from backends.recommend.model import TwoTowerModel
from backends.recommend.train import _encode, user_vectors
from backends.shoppers import GROUP_ATTRIBUTES, Shopper, generate_shoppers

PREMIUM_QUANTILE = 2 / 3
BISECTION_STEPS = 40
CONSTRAINT_ATTEMPTS = 6


def premium_items(catalog: Catalog, quantile: float = PREMIUM_QUANTILE) -> np.ndarray:
    """A boolean mask over the catalog: items priced in the top third (by default) of their category."""
    items = list(catalog)
    by_category: dict[str, list[float]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item.price)
    cut = {c: float(np.quantile(prices, quantile)) for c, prices in by_category.items()}
    return np.array([len(by_category[i.category]) > 1 and i.price >= cut[i.category] for i in items])


class AuditData:
    """Holdout shoppers with a group, their masked scores and holdout purchases.

    :param model: the trained two-tower model
    :param catalog: its catalog
    :param split: the time split it was evaluated on
    :param groups: user id -> group label (shoppers without one are left out)
    """

    def __init__(self, model: TwoTowerModel, catalog: Catalog, split: TimeSplit, groups: Mapping[str, str]) -> None:
        position = {item.item_id: i for i, item in enumerate(catalog)}
        train_by_user = histories(split.train)
        self.users = [u for u in sorted(split.holdout) if u in groups and u in train_by_user]
        self.group_of = np.array([groups[u] for u in self.users])
        rows = [_encode(train_by_user[u], position) for u in self.users]
        with torch.no_grad():
            item_matrix = model.all_items().numpy()
        scores = user_vectors(model, rows) @ item_matrix.T
        for row, user in enumerate(self.users):
            bought = [position[e.item_id] for e in train_by_user[user] if e.event == EVENT_PURCHASE]
            scores[row, bought] = -np.inf
        self.scores = scores
        self.relevant = [{position[i] for i in split.holdout[u]} for u in self.users]
        self.premium = premium_items(catalog)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _exposure(top: np.ndarray, premium: np.ndarray) -> np.ndarray:
    weights = 1.0 / np.log2(np.arange(top.shape[1]) + 2.0)
    return (premium[top] * weights).sum(axis=1) / weights.sum()


def _recall(top: np.ndarray, relevant: Sequence[set[int]]) -> np.ndarray:
    k = top.shape[1]
    return np.array([len(set(row.tolist()) & truth) / min(len(truth), k) for row, truth in zip(top, relevant, strict=True)])


def group_metrics(data: AuditData, scores: np.ndarray, k: int) -> dict[str, Any]:
    """Per-group exposure and Recall@k, and the parity / equal-opportunity gaps."""
    top = _top_k(scores, k)
    exposure, recall = _exposure(top, data.premium), _recall(top, data.relevant)
    groups = {}
    for group in sorted(set(data.group_of.tolist())):
        rows = data.group_of == group
        groups[group] = {"users": int(rows.sum()), "exposure": float(exposure[rows].mean()),
                         f"recall@{k}": float(recall[rows].mean())}
    exposures = [g["exposure"] for g in groups.values()]
    recalls = [g[f"recall@{k}"] for g in groups.values()]
    return {"groups": groups, "demographic_parity_gap": max(exposures) - min(exposures),
            "equal_opportunity_gap": max(recalls) - min(recalls),
            f"recall@{k}": float(recall.mean()), "exposure": float(exposure.mean())}


def constrained_scores(data: AuditData, k: int, max_gap: float) -> tuple[np.ndarray, dict[str, float]]:
    """Scores with a per-group offset on premium items, so each group's exposure is within ``max_gap / 2`` of the mean."""
    target = float(_exposure(_top_k(data.scores, k), data.premium).mean())
    finite = data.scores[np.isfinite(data.scores)]
    span = float(finite.max() - finite.min()) + 1.0
    out = data.scores.copy()
    offsets: dict[str, float] = {}
    for group in sorted(set(data.group_of.tolist())):
        rows = np.flatnonzero(data.group_of == group)
        block = data.scores[rows]

        def exposure_at(offset: float, block: np.ndarray = block) -> float:
            return float(_exposure(_top_k(block + offset * data.premium, k), data.premium).mean())

        now = exposure_at(0.0)
        low, high = target - max_gap / 2, target + max_gap / 2
        if low <= now <= high:
            offsets[group] = 0.0
            continue
        goal = low if now < low else high
        lo, hi = (0.0, span) if now < low else (-span, 0.0)
        for _ in range(BISECTION_STEPS):  # exposure grows with the offset
            mid = (lo + hi) / 2
            if exposure_at(mid) < goal:
                lo = mid
            else:
                hi = mid
        offset = hi if now < low else lo
        offsets[group] = offset
        out[rows] = block + offset * data.premium
    return out, offsets


def audit(data: AuditData, attribute: str, k: int = 10, max_gap: float | None = None) -> dict[str, Any]:
    """The audit of one attribute: metrics before and, with ``max_gap``, after the re-ranking constraint."""
    report: dict[str, Any] = {"attribute": attribute, "k": k, "before": group_metrics(data, data.scores, k)}
    if max_gap is not None:
        band = max_gap
        for _ in range(CONSTRAINT_ATTEMPTS):  # ranks are discrete: tighten the band until the gap holds
            scores, offsets = constrained_scores(data, k, band)
            after = group_metrics(data, scores, k)
            if after["demographic_parity_gap"] <= max_gap:
                break
            band *= 0.7
        report.update(max_gap=max_gap, after=after, offsets=offsets, band=band,
                      recall_cost=report["before"][f"recall@{k}"] - after[f"recall@{k}"])
    return report


def audit_model_dir(model_dir: Path, attributes: Sequence[str] = GROUP_ATTRIBUTES, k: int = 10,
                    max_gap: float | None = None) -> dict[str, Any]:
    """Audit a directory written by ``kefu train recommender`` (its report.json names the shopper population)."""
    from backends.recommend.service import Recommender

    model_dir = Path(model_dir)
    recommender = Recommender.load(model_dir, index="exact")
    config = json.loads((model_dir / "report.json").read_text())["config"]
    shoppers = generate_shoppers(int(config["n_shoppers"]), int(config["seed"]), recommender.catalog)
    log = [e for events in recommender.histories.values() for e in events]
    split = time_split(log, float(config.get("train_fraction", 0.85)))
    return audit_population(recommender.model, recommender.catalog, split, shoppers, attributes, k, max_gap)


def audit_population(model: TwoTowerModel, catalog: Catalog, split: TimeSplit, shoppers: Sequence[Shopper],
                     attributes: Sequence[str] = GROUP_ATTRIBUTES, k: int = 10,
                     max_gap: float | None = None) -> dict[str, Any]:
    """Audit every attribute in ``attributes`` over the shoppers that carry it."""
    unknown = sorted(set(attributes) - set(GROUP_ATTRIBUTES))
    if unknown:
        raise ValueError(f"unknown group attribute(s) {unknown} (expected some of {list(GROUP_ATTRIBUTES)})")
    reports = {}
    for attribute in attributes:
        groups = {s.user_id: s.groups[attribute] for s in shoppers if attribute in s.groups}
        reports[attribute] = audit(AuditData(model, catalog, split, groups), attribute, k, max_gap)
    return {"k": k, "premium_quantile": PREMIUM_QUANTILE, "max_gap": max_gap, "attributes": reports}


def plot_audit(report: Mapping[str, Any], path: Path) -> None:
    """Bars of exposure and Recall@k per group, before and after the constraint, one row per attribute."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = report["k"]
    attributes = list(report["attributes"].values())
    fig, axes = plt.subplots(len(attributes), 2, figsize=(10, 3.2 * len(attributes)), squeeze=False)
    for row, item in zip(axes, attributes, strict=True):
        names = list(item["before"]["groups"])
        x = np.arange(len(names))
        phases = [("before", item["before"])] + ([("after", item["after"])] if "after" in item else [])
        width = 0.8 / len(phases)
        for col, (metric, label) in enumerate((("exposure", "premium exposure"), (f"recall@{k}", f"Recall@{k}"))):
            for i, (phase, data) in enumerate(phases):
                row[col].bar(x + i * width, [data["groups"][n][metric] for n in names], width, label=phase)
            gap_key = "demographic_parity_gap" if metric == "exposure" else "equal_opportunity_gap"
            gaps = ", ".join(f"{phase} gap {data[gap_key]:.3f}" for phase, data in phases)
            row[col].set(title=f"{item['attribute']}: {label} ({gaps})", xticks=x + width * (len(phases) - 1) / 2,
                         xticklabels=names)
            row[col].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_audit(report: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""
    k = report["k"]
    lines = []
    for name, item in report["attributes"].items():
        before = item["before"]
        line = (f"{name}: parity gap {before['demographic_parity_gap']:.3f}, equal-opportunity gap "
                f"{before['equal_opportunity_gap']:.3f}, Recall@{k} {before[f'recall@{k}']:.3f}")
        if "after" in item:
            after = item["after"]
            line += (f" -> constrained: parity gap {after['demographic_parity_gap']:.3f}, equal-opportunity gap "
                     f"{after['equal_opportunity_gap']:.3f}, Recall@{k} {after[f'recall@{k}']:.3f} "
                     f"(cost {item['recall_cost']:+.4f})")
        lines.append(line)
    return "\n".join(lines) if lines else "no attributes audited"


__all__ = ["AuditData", "audit", "audit_model_dir", "audit_population", "format_audit", "group_metrics",
           "plot_audit", "premium_items"]
