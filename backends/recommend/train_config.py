"""The settings of a recommender training run, importable without PyTorch (``kefu``'s argument parser reads
their defaults on every command, ``kefu run`` included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends.constants import DEFAULT_SEED

if TYPE_CHECKING:
    from backends.catalog import Catalog
    from backends.recommend.model import TwoTowerParams


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved into ``report.json``).

    :param n_shoppers: synthetic shoppers in the log (plus the demo shoppers)
    :param n_days: length of the log
    :param train_fraction: share of purchases (by time) before the evaluation cutoff
    :param n_epochs: passes over the training examples
    :param batch_size: examples per step; the other positives of a batch are the negatives
    :param learning_rate: AdamW learning rate
    :param logq_weight: how much of the log item frequency to subtract from in-batch logits (0 = none)
    :param n_threads: torch CPU threads (1 avoids OpenMP spin contention on a busy machine)
    """

    n_shoppers: int = 3000
    n_days: float = 180.0
    seed: int = DEFAULT_SEED
    train_fraction: float = 0.85
    dim: int = 48
    n_heads: int = 2
    n_layers: int = 2
    max_history: int = 20
    dropout: float = 0.0
    temperature: float = 0.05
    n_epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 6e-3
    weight_decay: float = 1e-4
    logq_weight: float = 1.0
    k: int = 10
    n_threads: int = 1

    @classmethod
    def small(cls, seed: int = DEFAULT_SEED) -> TrainConfig:
        """A quick preset (about half a minute on 2 busy cores) that still meets the acceptance bars; tests use it."""
        return cls(n_shoppers=1500, seed=seed, dim=32, n_layers=1, dropout=0.0, n_epochs=10, batch_size=128,
                   learning_rate=0.01)

    def params(self, catalog: Catalog) -> TwoTowerParams:
        from backends.recommend.model import TwoTowerParams

        return TwoTowerParams(
            n_items=len(catalog), n_categories=len(catalog.categories), n_brands=len(catalog.brands),
            dim=self.dim, n_heads=self.n_heads, n_layers=self.n_layers, max_history=self.max_history,
            dropout=self.dropout, temperature=self.temperature,
        )
