"""The joint network: one BERT encoder, three heads (intent, sentiment/emotion, entities with roles and groups).

The intent head reads the mean-pooled sentence embedding; the entity heads read each wordpiece's
hidden state (the first wordpiece of each word carries the word's tag). The sentiment (mood) head
reads the mean-pooled output of the last block, or, with a mood branch (a shipped mood adapter, see
:mod:`nlu.mood_adapter`), the output of the branch's blocks run on the hidden states after block
``mood_from``: the blocks below it stay frozen during a project's fine-tuning and the branch never
trains, so the mood head's features never move.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from nlu.bert import BertConfig, BertEncoder, BertLayer, mean_pool, run_blocks


class JointOutput(NamedTuple):
    """Everything one forward pass produces (all logits are unnormalised)."""

    pooled: torch.Tensor  # (batch, hidden)
    intent_logits: torch.Tensor  # (batch, n_intents)
    sentiment_logits: torch.Tensor  # (batch, n_sentiments)
    entity_logits: torch.Tensor  # (batch, seq, n_entity_tags)
    role_logits: torch.Tensor  # (batch, seq, n_roles)
    group_logits: torch.Tensor  # (batch, seq, n_groups)


class JointModel(nn.Module):
    """BERT encoder plus intent, sentiment, entity, role and group heads.

    :param config: the encoder architecture
    :param n_intents: intent labels (retrieval intents count with their full name, ``faq/returns``)
    :param n_sentiments: sentiment/emotion labels
    :param n_entity_tags: BIO tags (``O``, ``B-x``, ``I-x`` for each entity ``x``)
    :param n_roles: role labels, ``O`` (no role) included
    :param n_groups: group labels, ``O`` (no group) included
    :param dropout: dropout before every head
    :param mood_from: the mood branch starts after this many shared blocks (``None``: no branch)
    :param mood_layer: the mood branch ends where block ``mood_layer`` would (it has ``mood_layer - mood_from`` blocks)
    """

    def __init__(
        self,
        config: BertConfig,
        n_intents: int,
        n_sentiments: int,
        n_entity_tags: int,
        n_roles: int = 1,
        n_groups: int = 1,
        dropout: float = 0.1,
        mood_from: int | None = None,
        mood_layer: int | None = None,
    ) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.mood_from = mood_from
        self.mood_layer = mood_layer
        self.mood_blocks: nn.ModuleList | None = None
        if mood_from is not None and mood_layer is not None:
            self.mood_blocks = nn.ModuleList(BertLayer(config) for _ in range(mood_layer - mood_from))
        self.train_mood_head = True  # False: the sentiment head stays as loaded (a shipped adapter, no labels)
        self.encoder = BertEncoder(config)
        self.dropout = nn.Dropout(dropout)
        self.intent_head = nn.Linear(hidden, max(n_intents, 1))
        self.sentiment_head = nn.Linear(hidden, max(n_sentiments, 1))
        self.entity_head = nn.Linear(hidden, max(n_entity_tags, 1))
        self.role_head = nn.Linear(hidden, max(n_roles, 1))
        self.group_head = nn.Linear(hidden, max(n_groups, 1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> JointOutput:
        return self.forward_hidden(self.encoder.embeddings(input_ids), attention_mask, 0)

    def forward_hidden(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int) -> JointOutput:
        """Run blocks ``start``.. over ``hidden`` (the output of the first ``start`` blocks), then the heads."""
        mood_hidden = None
        if self.mood_blocks is not None and self.mood_from is not None:
            if start > self.mood_from:
                raise ValueError(f"cannot start at block {start}: the mood branch starts after block {self.mood_from}")
            hidden = self.encoder.run_layers(hidden, attention_mask, start, self.mood_from)
            mood_hidden = run_blocks(self.mood_blocks, hidden, attention_mask)
            start = self.mood_from
        return self.heads(self.encoder.run_layers(hidden, attention_mask, start), attention_mask, mood_hidden)

    def set_mood_branch(self, blocks: list[nn.Module], mood_from: int) -> None:
        """Install the mood branch: ``blocks`` run on the hidden states after ``mood_from`` shared blocks."""
        self.mood_blocks = nn.ModuleList(blocks)
        self.mood_from = mood_from
        self.mood_layer = mood_from + len(blocks)

    def heads(self, hidden: torch.Tensor, attention_mask: torch.Tensor, mood_hidden: torch.Tensor | None = None) -> JointOutput:
        """Apply every head to the encoder's last hidden states (the mood head to ``mood_hidden`` if given)."""
        pooled = mean_pool(hidden, attention_mask)
        sentence = self.dropout(pooled)
        mood = sentence if mood_hidden is None else self.dropout(mean_pool(mood_hidden, attention_mask))
        tokens = self.dropout(hidden)
        return JointOutput(
            pooled,
            self.intent_head(sentence),
            self.sentiment_head(mood),
            self.entity_head(tokens),
            self.role_head(tokens),
            self.group_head(tokens),
        )

    def freeze(self, trainable_layers: int | None, freeze_embeddings: bool = True) -> None:
        """Train only the top ``trainable_layers`` blocks (``None`` or negative: all) and the heads.

        The embedding block trains only when every layer does; its 30k-row word matrix stays frozen
        unless ``freeze_embeddings`` is false (an optimizer step over it is slow on a CPU).
        """
        enc = self.encoder
        n = len(enc.layers)
        keep = n if trainable_layers is None or trainable_layers < 0 else min(trainable_layers, n)
        for index, layer in enumerate(enc.layers):
            for p in layer.parameters():
                p.requires_grad_(index >= n - keep)
        for name, p in enc.embeddings.named_parameters():
            is_word = name.startswith("word_embeddings")
            p.requires_grad_(keep == n and (not is_word or not freeze_embeddings))
        for p in self.sentiment_head.parameters():
            p.requires_grad_(self.train_mood_head)
        if self.mood_blocks is not None:
            for p in self.mood_blocks.parameters():
                p.requires_grad_(False)


class OnnxWrapper(nn.Module):
    """The tensors ONNX Runtime returns: pooled embedding and every head's logits (a plain tuple)."""

    def __init__(self, model: JointModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model(input_ids, attention_mask))


def build_model(
    config: BertConfig, sizes: dict[str, int], dropout: float = 0.1, mood_from: int | None = None,
    mood_layer: int | None = None,
) -> JointModel:
    """Construct a :class:`JointModel` from the label-set sizes stored in a model folder."""
    return JointModel(
        config,
        n_intents=sizes["intents"],
        n_sentiments=sizes["sentiments"],
        n_entity_tags=sizes["entity_tags"],
        n_roles=sizes.get("roles", 1),
        n_groups=sizes.get("groups", 1),
        dropout=dropout,
        mood_from=mood_from,
        mood_layer=mood_layer,
    )
