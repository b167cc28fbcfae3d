"""The two-tower recommender: an item tower over catalog features and MiniLM text, a user tower over history.

``ItemTower``: item id, category, brand and price-bucket embeddings, a *family* embedding (a phone's own, shared
with the accessories made for it; the mean over the phones an accessory fits), plus the item's MiniLM text
embedding (projected), through an MLP, L2-normalised. ``UserTower``: a small Transformer encoder over the shopper's last
``max_history`` events (each token = item-tower vector + event-type + recency embedding) read out at a
``[CLS]`` token, L2-normalised. Scores are cosine similarities; training uses in-batch negatives with a
log-popularity correction (``in_batch_softmax_loss``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from backends.catalog import Catalog
from backends.constants import EVENT_TYPES

SelfTwoTower = TypeVar("SelfTwoTower", bound="TwoTowerModel")

PRICE_BUCKETS = (0, 20, 35, 60, 100, 180, 300, 500, 800, 1200)


def price_bucket(price: float) -> int:
    return sum(price >= edge for edge in PRICE_BUCKETS[1:])


@dataclass(frozen=True)
class TwoTowerParams:
    """Constructor parameters of ``TwoTowerModel`` (saved as ``params.json``).

    :param dim: size of the shared embedding space
    :param max_history: events of history the user tower reads
    :param temperature: softmax temperature of the training loss (and of served scores)
    """

    n_items: int
    n_categories: int
    n_brands: int
    text_dim: int = 384
    dim: int = 64
    id_dim: int = 32
    feature_dim: int = 16
    n_heads: int = 2
    n_layers: int = 2
    max_history: int = 20
    dropout: float = 0.1
    temperature: float = 0.05


@dataclass(frozen=True)
class ItemFeatures:
    """Per-item inputs of the item tower, aligned with ``Catalog.items``."""

    category: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    text: np.ndarray
    compat_index: np.ndarray
    compat_offsets: np.ndarray
    categories: tuple[str, ...]
    brands: tuple[str, ...]

    @classmethod
    def from_catalog(cls, catalog: Catalog, text_embeddings: np.ndarray) -> ItemFeatures:
        categories = tuple(catalog.categories)
        brands = tuple(catalog.brands)
        if text_embeddings.shape[0] != len(catalog):
            raise ValueError(f"expected {len(catalog)} text embeddings (one per item), got {text_embeddings.shape[0]}")
        position = {item.item_id: i for i, item in enumerate(catalog)}
        anchors = {other for item in catalog for other in item.compatible_with}
        bags = [[position[item.item_id]] if item.item_id in anchors else
                [position[other] for other in item.compatible_with if other in position] for item in catalog]
        offsets = np.cumsum([0] + [len(bag) for bag in bags[:-1]]).astype(np.int64)
        return cls(
            category=np.array([categories.index(i.category) for i in catalog], dtype=np.int64),
            brand=np.array([brands.index(i.brand) for i in catalog], dtype=np.int64),
            price=np.array([price_bucket(i.price) for i in catalog], dtype=np.int64),
            text=np.asarray(text_embeddings, dtype=np.float32),
            compat_index=np.array([i for bag in bags for i in bag], dtype=np.int64),
            compat_offsets=offsets,
            categories=categories,
            brands=brands,
        )


class ItemTower(nn.Module):
    """Item features -> unit vector of size ``dim``."""

    def __init__(self, params: TwoTowerParams) -> None:
        super().__init__()
        p = params
        self.item_id = nn.Embedding(p.n_items, p.id_dim)
        self.family = nn.Embedding(p.n_items, p.id_dim)
        self.category = nn.Embedding(p.n_categories, p.feature_dim)
        self.brand = nn.Embedding(p.n_brands, p.feature_dim)
        self.price = nn.Embedding(len(PRICE_BUCKETS), p.feature_dim // 2)
        self.text = nn.Linear(p.text_dim, p.dim)
        width = 2 * p.id_dim + 2 * p.feature_dim + p.feature_dim // 2 + p.dim
        self.mlp = nn.Sequential(nn.Linear(width, 2 * p.dim), nn.GELU(), nn.Dropout(p.dropout),
                                 nn.Linear(2 * p.dim, p.dim))
        # Small ids: a rarely bought item is described by its content (category, brand, text) until data says more.
        nn.init.normal_(self.item_id.weight, std=0.01)
        nn.init.normal_(self.family.weight, std=0.01)

    def forward(self, ids: torch.Tensor, category: torch.Tensor, brand: torch.Tensor, price: torch.Tensor,
                text: torch.Tensor, compat_index: torch.Tensor, compat_offsets: torch.Tensor) -> torch.Tensor:
        """All tensors are per item; ``compat_index``/``compat_offsets`` are the family bags."""
        compat = F.embedding_bag(compat_index, self.family.weight, compat_offsets, mode="mean")
        x = torch.cat([self.item_id(ids), compat, self.category(category), self.brand(brand), self.price(price),
                       self.text(text)], dim=-1)
        return F.normalize(self.mlp(x), dim=-1)


class UserTower(nn.Module):
    """History (item vectors + event types, most recent last) -> unit vector of size ``dim``."""

    def __init__(self, params: TwoTowerParams) -> None:
        super().__init__()
        p = params
        self.cls = nn.Parameter(torch.randn(1, 1, p.dim) * 0.02)
        self.event = nn.Embedding(len(EVENT_TYPES), p.dim)
        self.recency = nn.Embedding(p.max_history, p.dim)
        layer = nn.TransformerEncoderLayer(p.dim, p.n_heads, dim_feedforward=2 * p.dim, dropout=p.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, p.n_layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(p.dim), nn.Linear(p.dim, p.dim))
        self.max_history = p.max_history

    def forward(self, item_vectors: torch.Tensor, events: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """:param item_vectors: ``(B, L, dim)``; :param events: ``(B, L)``; :param padding: ``(B, L)`` True = pad.

        Sequences are left-padded so position ``L-1`` is the most recent event (recency index 0).
        """
        batch, length, _ = item_vectors.shape
        recency = torch.arange(length - 1, -1, -1, device=item_vectors.device).clamp(max=self.max_history - 1)
        tokens = item_vectors * 4.0 + self.event(events) + self.recency(recency)[None]
        tokens = torch.cat([self.cls.expand(batch, 1, -1), tokens], dim=1)
        mask = torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=padding.device), padding], dim=1)
        hidden = self.encoder(tokens, src_key_padding_mask=mask)
        return F.normalize(self.out(hidden[:, 0]), dim=-1)


class TwoTowerModel(nn.Module):
    """User tower + item tower over one catalog; the catalog's features live in buffers.

    :param params: sizes and hyperparameters
    :param features: per-item inputs (``ItemFeatures.from_catalog``)
    """

    def __init__(self, params: TwoTowerParams, features: ItemFeatures) -> None:
        super().__init__()
        self.params = params
        self.features = features
        self.item_tower = ItemTower(params)
        self.user_tower = UserTower(params)
        self.register_buffer("f_ids", torch.arange(params.n_items))
        self.register_buffer("f_category", torch.as_tensor(features.category))
        self.register_buffer("f_brand", torch.as_tensor(features.brand))
        self.register_buffer("f_price", torch.as_tensor(features.price))
        self.register_buffer("f_text", torch.as_tensor(features.text))
        self.register_buffer("f_compat_index", torch.as_tensor(features.compat_index))
        self.register_buffer("f_compat_offsets", torch.as_tensor(features.compat_offsets))

    def all_items(self) -> torch.Tensor:
        """``(n_items, dim)``: every catalog item through the item tower."""
        return self.item_tower(self.f_ids, self.f_category, self.f_brand, self.f_price, self.f_text,
                               self.f_compat_index, self.f_compat_offsets)

    def users(self, history: torch.Tensor, events: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, dim)`` for left-padded ``history`` item indices (``-1`` = padding)."""
        items = self.all_items() if items is None else items
        padding = history < 0
        vectors = items[history.clamp(min=0)] * (~padding).unsqueeze(-1)
        return self.user_tower(vectors, events.clamp(min=0), padding)

    def save(self, path: Path) -> None:
        """Write ``params.json`` and ``weights.pt`` into directory ``path`` (features are saved by the caller)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "params.json").write_text(json.dumps(asdict(self.params), indent=2) + "\n")
        torch.save(self.state_dict(), path / "weights.pt")

    @classmethod
    def load(cls: type[SelfTwoTower], path: Path, features: ItemFeatures) -> SelfTwoTower:
        """A new model from ``path`` (``cls(**params)``, then the weights); it does not load in place."""
        path = Path(path)
        params = TwoTowerParams(**json.loads((path / "params.json").read_text()))
        if params.n_items != len(features.category):
            raise ValueError(f"{path}: the model was trained on {params.n_items} items, the catalog has "
                             f"{len(features.category)}")
        model = cls(params, features)
        model.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        return model.eval()


def pad_histories(histories: list[list[tuple[int, int]]], max_history: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ``[(item_index, event_index), ...]`` lists to ``(B, L)`` tensors (``-1`` = padding)."""
    length = max(1, min(max_history, max((len(h) for h in histories), default=1)))
    items = torch.full((len(histories), length), -1, dtype=torch.long)
    events = torch.full((len(histories), length), -1, dtype=torch.long)
    for row, history in enumerate(histories):
        tail = history[-length:]
        if tail:
            items[row, length - len(tail):] = torch.tensor([i for i, _ in tail])
            events[row, length - len(tail):] = torch.tensor([e for _, e in tail])
    return items, events


def in_batch_softmax_loss(users: torch.Tensor, positives: torch.Tensor, target_ids: torch.Tensor,
                          temperature: float, log_q: torch.Tensor | None = None) -> torch.Tensor:
    """Sampled softmax with the batch's other positives as negatives.

    :param log_q: per-item log sampling probability; subtracting it stops popular items from being punished
        for appearing as negatives more often (Yi et al., 2019)
    """
    logits = users @ positives.T / temperature
    if log_q is not None:
        logits = logits - log_q[target_ids][None, :]
    same = target_ids[:, None] == target_ids[None, :]
    eye = torch.eye(len(target_ids), dtype=torch.bool, device=users.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(target_ids), device=users.device))
