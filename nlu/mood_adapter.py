"""The shipped mood adapter: moods read right on real text from the first ``kefu train``.

A mood adapter belongs to one encoder (multilingual-e5-small). It is trained once, by
``scripts/train_mood_adapter.py``, on real people's labelled text in English and Chinese (Reddit
comments, tweets, Weibo posts, shopping reviews, Kefu's own shop corpus; see that script and
``nlu/data/MOOD_ADAPTER.md``), and stored in the repo because it is small:

- low-rank (LoRA, Hu et al. 2021) updates of the encoder blocks just below ``mood_layer``;
- the mood head: a linear layer over the mean-pooled hidden states after block ``mood_layer``.

In a project's model the updated blocks are a branch of their own (copies of blocks 6-7 with the
updates merged), fed by the shared lower blocks; the intent and entity path keeps e5's own blocks
(merging the updates into them cost 4-6 points of Chinese intent accuracy on the demo shop). A
project's fine-tuning never trains the shared lower blocks, so the features the mood head reads never
move, and one forward pass serves every head. A project
that labels its own examples (NLU ``metadata: {sentiment: angry}``) fine-tunes the mood head on them,
starting from the shipped one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nlu.constants import DATA_DIR, SENTIMENT_LABELS

ADAPTER_WEIGHTS = DATA_DIR / "mood_adapter_e5.safetensors"
ADAPTER_CARD = DATA_DIR / "mood_adapter_e5.json"
LORA_TARGETS = ("qkv", "attn_out", "intermediate", "output")


class LoRALinear(nn.Module):
    """``base(x) + scale * B(A(x))`` with ``base`` frozen and ``A`` (rank × in), ``B`` (out × rank) trained.

    :param base: the pretrained linear layer
    :param rank: the rank of the update
    :param alpha: the update is scaled by ``alpha / rank``
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def delta(self) -> torch.Tensor:
        """The weight update ``scale * B @ A`` (out × in)."""
        return (self.lora_b @ self.lora_a) * self.scale


def add_lora(blocks: list[nn.Module], rank: int, alpha: float) -> list[LoRALinear]:
    """Wrap the attention and feed-forward linears of ``blocks`` in :class:`LoRALinear` (in place)."""
    wrapped: list[LoRALinear] = []
    for block in blocks:
        for name in LORA_TARGETS:
            layer = LoRALinear(getattr(block, name), rank, alpha)
            setattr(block, name, layer)
            wrapped.append(layer)
    return wrapped


def remove_lora(blocks: list[nn.Module]) -> None:
    """Merge every :class:`LoRALinear` of ``blocks`` into its base layer and put the base layer back."""
    with torch.no_grad():
        for block in blocks:
            for name in LORA_TARGETS:
                layer = getattr(block, name)
                if isinstance(layer, LoRALinear):
                    layer.base.weight += layer.delta()
                    setattr(block, name, layer.base)


@dataclass
class MoodAdapter:
    """What :func:`scripts/train_mood_adapter.py` produces and a project's model starts from.

    :param encoder: the encoder it belongs to (``multilingual-e5-small``)
    :param mood_layer: the mood head reads the hidden states after this many encoder blocks
    :param lora_blocks: the block indices whose weights the low-rank updates change
    :param tensors: ``block.<i>.<linear>.lora_a`` / ``lora_b`` and ``head.weight`` / ``head.bias``
    :param scale: the LoRA scale (``alpha / rank``)
    :param labels: the mood labels, in the head's order
    """

    encoder: str
    mood_layer: int
    lora_blocks: list[int]
    tensors: dict[str, torch.Tensor]
    scale: float
    labels: list[str]

    def merge_into(self, encoder: nn.Module, blocks: list[nn.Module] | None = None) -> None:
        """Add the low-rank updates to the weights of ``blocks`` (default: ``encoder``'s own blocks, in place)."""
        targets = blocks if blocks is not None else [encoder.layers[i] for i in self.lora_blocks]
        with torch.no_grad():
            for index, block in zip(self.lora_blocks, targets, strict=True):
                for name in LORA_TARGETS:
                    a = self.tensors[f"block.{index}.{name}.lora_a"].float()
                    b = self.tensors[f"block.{index}.{name}.lora_b"].float()
                    getattr(block, name).weight += (b @ a) * self.scale

    def mood_blocks(self, encoder: nn.Module) -> list[nn.Module]:
        """Copies of the updated blocks with the updates merged (the encoder itself is left as it is)."""
        import copy

        blocks = [copy.deepcopy(encoder.layers[i]) for i in self.lora_blocks]
        self.merge_into(encoder, blocks)
        return blocks

    def load_head(self, head: nn.Linear) -> None:
        """Copy the mood head's weights into ``head``."""
        if head.weight.shape != self.tensors["head.weight"].shape:
            raise ValueError(f"mood head shape {tuple(head.weight.shape)} does not match the adapter's")
        with torch.no_grad():
            head.weight.copy_(self.tensors["head.weight"].float())
            head.bias.copy_(self.tensors["head.bias"].float())

    def apply(self, model: nn.Module) -> None:
        """Give a :class:`nlu.joint_model.JointModel` the mood branch and the mood head."""
        if self.lora_blocks != list(range(self.lora_blocks[0], self.mood_layer)):
            raise ValueError(f"adapter blocks {self.lora_blocks} must be the blocks just below block {self.mood_layer}")
        if len(model.encoder.layers) < self.mood_layer:
            raise ValueError(
                f"the mood adapter reads blocks {self.lora_blocks} of {self.encoder}, but encoder_layers keeps "
                f"{len(model.encoder.layers)}: keep at least {self.mood_layer} or set mood_adapter: false"
            )
        model.set_mood_branch(self.mood_blocks(model.encoder), self.lora_blocks[0])
        self.load_head(model.sentiment_head)

    def save(self, weights: Path = ADAPTER_WEIGHTS, card: Path = ADAPTER_CARD, extra: dict | None = None) -> None:
        """Write the tensors (fp16 low-rank factors, fp32 head) and the JSON card."""
        from safetensors.torch import save_file

        tensors = {
            k: (v.half() if ".lora_" in k else v.float()).contiguous() for k, v in self.tensors.items()
        }
        save_file(tensors, str(weights))
        meta = {
            "encoder": self.encoder, "mood_layer": self.mood_layer, "lora_blocks": self.lora_blocks,
            "scale": self.scale, "labels": self.labels, **(extra or {}),
        }
        card.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, weights: Path = ADAPTER_WEIGHTS, card: Path = ADAPTER_CARD) -> MoodAdapter:
        """Read a saved adapter (``FileNotFoundError`` names the missing file)."""
        from safetensors.torch import load_file

        for path in (weights, card):
            if not path.is_file():
                raise FileNotFoundError(f"mood adapter file {path} is missing (scripts/train_mood_adapter.py writes it)")
        meta = json.loads(card.read_text(encoding="utf-8"))
        if list(meta["labels"]) != list(SENTIMENT_LABELS):
            raise ValueError(f"{card}: mood labels {meta['labels']} differ from Kefu's {list(SENTIMENT_LABELS)}")
        return cls(
            encoder=meta["encoder"], mood_layer=int(meta["mood_layer"]), lora_blocks=list(meta["lora_blocks"]),
            tensors=load_file(str(weights)), scale=float(meta["scale"]), labels=list(meta["labels"]),
        )

    @classmethod
    def available(cls, encoder: str) -> bool:
        """Whether a shipped adapter exists for ``encoder``."""
        if not (ADAPTER_WEIGHTS.is_file() and ADAPTER_CARD.is_file()):
            return False
        return json.loads(ADAPTER_CARD.read_text(encoding="utf-8")).get("encoder") == encoder
