"""Fine-tune the joint model: multi-task batches, AdamW with warm-up, early stopping on validation.

Every row carries the labels it has and ``IGNORE`` for the rest: an intent example from
``nlu.yml`` has an intent and entity tags (and a sentiment if its metadata gives one); a
sentence of the sentiment corpus has only a sentiment. One shuffled stream mixes both, so one
forward pass serves all three heads.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bot.training_data import EntitySpan
from nlu.bert import run_blocks
from nlu.joint_model import JointModel, JointOutput
from nlu.labels import LabelSpace
from nlu.tagging import IGNORE, encode_tags
from nlu.wordpiece import WordpieceTokenizer

logger = logging.getLogger(__name__)


@dataclass
class TrainingRow:
    """One tokenized example with its labels (``IGNORE`` where it has none)."""

    ids: list[int]
    intent: int = IGNORE
    sentiment: int = IGNORE
    tags: list[int] | None = None
    roles: list[int] | None = None
    groups: list[int] | None = None


def build_rows(
    tokenizer: WordpieceTokenizer,
    labels: LabelSpace,
    texts: Sequence[str],
    intents: Sequence[str | None],
    sentiments: Sequence[str | None],
    spans: Sequence[Sequence[EntitySpan] | None],
) -> list[TrainingRow]:
    """Tokenize ``texts`` once and attach intent, sentiment and entity labels."""
    intent_index = labels.index("intents")
    sentiment_index = labels.index("sentiments")
    tag_index = labels.index("entity_tags")
    role_index = labels.index("roles")
    group_index = labels.index("groups")
    rows: list[TrainingRow] = []
    chunk = 512
    for begin in range(0, len(texts), chunk):
        encodings = tokenizer.encodings(list(texts[begin : begin + chunk]))
        for offset, enc in enumerate(encodings):
            i = begin + offset
            row = TrainingRow(
                ids=list(enc.ids),
                intent=intent_index.get(intents[i], IGNORE) if intents[i] is not None else IGNORE,
                sentiment=sentiment_index.get(sentiments[i], IGNORE) if sentiments[i] is not None else IGNORE,
            )
            if spans[i] is not None and len(labels.entity_tags) > 1:
                offsets, word_ids = tokenizer.words(enc)
                tags, roles, groups = encode_tags(
                    spans[i], offsets, word_ids, len(enc.ids), tag_index, role_index, group_index
                )
                row.tags, row.roles, row.groups = tags.tolist(), roles.tolist(), groups.tolist()
            rows.append(row)
    return rows


def collate(rows: Sequence[TrainingRow], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a list of rows into tensors (labels padded with ``IGNORE``)."""
    width = max(len(r.ids) for r in rows)
    n = len(rows)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    tags = torch.full((n, width), IGNORE, dtype=torch.long)
    roles = torch.full((n, width), IGNORE, dtype=torch.long)
    groups = torch.full((n, width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        k = len(row.ids)
        ids[i, :k] = torch.tensor(row.ids)
        mask[i, :k] = 1
        if row.tags is not None:
            tags[i, :k] = torch.tensor(row.tags)
            roles[i, :k] = torch.tensor(row.roles)
            groups[i, :k] = torch.tensor(row.groups)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "intent": torch.tensor([r.intent for r in rows], dtype=torch.long),
        "sentiment": torch.tensor([r.sentiment for r in rows], dtype=torch.long),
        "tags": tags,
        "roles": roles,
        "groups": groups,
    }


@dataclass
class TrainConfig:
    """Optimisation settings (``config.yml`` keys of KefuTransformerClassifier)."""

    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    label_smoothing: float = 0.0
    sentiment_weight: float = 0.5
    entity_weight: float = 1.0
    early_stopping_patience: int = 2
    trainable_layers: int = -1
    freeze_embeddings: bool = True
    mixed_precision: bool = False
    min_sentiment_rows_per_epoch: int = 256


@dataclass
class TrainingReport:
    """What happened during :meth:`JointTrainer.fit`."""

    epochs_run: int = 0
    best_epoch: int = 0
    best_score: float = float("nan")
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def _loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    if not bool((target != IGNORE).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE,
                           label_smoothing=smoothing)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of similar lengths (less padding, so faster steps on a CPU).

    Indices are shuffled, cut into pools of ``pool`` batches, sorted by length inside each pool and
    batched; the batch order is shuffled again. Seeded by ``generator``.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    batches: list[list[int]] = []
    span = batch_size * pool
    for begin in range(0, len(order), span):
        chunk = sorted(order[begin : begin + span], key=lambda i: lengths[i])
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def frozen_prefix(model: JointModel, trainable_layers: int) -> int:
    """How many lower encoder blocks stay frozen (their output can be cached)."""
    n = len(model.encoder.layers)
    if trainable_layers is None or trainable_layers < 0:
        return 0
    return n - min(trainable_layers, n)


@dataclass
class FrozenCache:
    """What the frozen part of the network gives each row, computed once: the hidden states after the frozen
    lower blocks and, with a mood branch (always frozen), the branch's output."""

    hidden: list[torch.Tensor]
    mood: list[torch.Tensor] | None = None

    @staticmethod
    def pad(rows: list[torch.Tensor], indices: Sequence[int], width: int) -> torch.Tensor:
        out = torch.zeros((len(indices), width, rows[indices[0]].shape[-1]))
        for k, i in enumerate(indices):
            out[k, : rows[i].shape[0]] = rows[i]
        return out


class JointTrainer:
    """Train a :class:`JointModel` on :class:`TrainingRow` lists.

    :param model: the network (its encoder is already loaded with pretrained weights)
    :param config: optimisation settings
    :param seed: seeds dropout and the shuffling; same seed, same data → same weights
    :param progress: show a tqdm progress bar
    :param callback: called after every epoch with the epoch number and its metrics (SB3-style hook)
    :param desc: the progress bar's label
    """

    def __init__(
        self,
        model: JointModel,
        config: TrainConfig,
        seed: int = 0,
        progress: bool = False,
        callback: Callable[[int, dict[str, float]], None] | None = None,
        desc: str = "train nlu",
    ) -> None:
        self.model = model
        self.config = config
        self.seed = seed
        self.progress = progress
        self.callback = callback
        self.desc = desc
        self.prefix = 0

    # ----------------------------------------------------------------- training
    def fit(self, train: Sequence[TrainingRow], validation: Sequence[TrainingRow] = ()) -> TrainingReport:
        """Train for up to ``epochs`` epochs; keep the weights of the best validation epoch."""
        cfg = self.config
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        model = self.model
        model.freeze(cfg.trainable_layers, cfg.freeze_embeddings)
        self.prefix = frozen_prefix(model, cfg.trainable_layers)
        train_cache = self.cache(train)
        val_cache = self.cache(validation) if validation else None
        head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
        enc_params = [p for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
        groups = [{"params": head_params, "lr": cfg.head_learning_rate}]
        if enc_params:
            groups.append({"params": enc_params, "lr": cfg.learning_rate})
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        # Sentiment-only rows (the corpus) are sampled afresh each epoch, at most as many as there are
        # intent rows (but at least ``min_sentiment_rows_per_epoch``): a tiny project does not pay for
        # the whole corpus every epoch, and over the epochs every sentence is still seen.
        primary = [i for i, r in enumerate(train) if r.intent != IGNORE or r.tags is not None]
        auxiliary = [i for i, r in enumerate(train) if r.intent == IGNORE and r.tags is None]
        aux_per_epoch = min(len(auxiliary), max(len(primary), cfg.min_sentiment_rows_per_epoch))
        steps_per_epoch = max(1, math.ceil((len(primary) + aux_per_epoch) / cfg.batch_size))
        total = steps_per_epoch * max(cfg.epochs, 1)
        warmup = int(total * cfg.warmup_fraction)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        report = TrainingReport()
        best_state: dict[str, torch.Tensor] | None = None
        stale = 0
        started = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=self.desc, unit="step", dynamic_ncols=True)
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            picked = torch.randperm(len(auxiliary), generator=generator)[:aux_per_epoch].tolist()
            epoch_rows = primary + [auxiliary[i] for i in picked]
            local = length_bucketed_batches([len(train[i].ids) for i in epoch_rows], cfg.batch_size, generator)
            batches = [[epoch_rows[k] for k in batch] for batch in local]
            running = 0.0
            for step, indices in enumerate(batches):
                batch = collate([train[i] for i in indices])
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.mixed_precision):
                    out = self._forward(batch, train_cache, indices)
                loss = _loss(out.intent_logits, batch["intent"], cfg.label_smoothing)
                loss = loss + cfg.sentiment_weight * _loss(out.sentiment_logits, batch["sentiment"])
                if out.entity_logits.shape[-1] > 1:
                    ent = _loss(out.entity_logits, batch["tags"])
                    if out.role_logits.shape[-1] > 1:
                        ent = ent + _loss(out.role_logits, batch["roles"])
                    if out.group_logits.shape[-1] > 1:
                        ent = ent + _loss(out.group_logits, batch["groups"])
                    loss = loss + cfg.entity_weight * ent
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                optimizer.step()
                scheduler.step()
                value = float(loss.detach())
                running = 0.9 * running + 0.1 * value if step else value
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{running:.3f}")
            metrics = {"epoch": float(epoch), "loss": running}
            report.epochs_run = epoch
            if validation:
                metrics.update(self.evaluate(validation, cache=val_cache))
                score = metrics["score"]
                if best_state is None or score > report.best_score + 1e-6:
                    report.best_score, report.best_epoch, stale = score, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
            report.history.append(metrics)
            if self.callback is not None:
                self.callback(epoch, metrics)
            line = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
            if bar is not None:
                bar.write(f"epoch {epoch}: {line}")
            logger.debug("epoch %d: %s", epoch, line)
            if validation and stale >= cfg.early_stopping_patience:
                if bar is not None:
                    bar.write(f"early stopping: no better validation score for {stale} epochs (best: epoch {report.best_epoch})")
                break
        if bar is not None:
            bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            report.best_epoch = report.epochs_run
        model.eval()
        report.seconds = time.perf_counter() - started
        return report

    def cache(self, rows: Sequence[TrainingRow], batch_size: int = 128) -> FrozenCache | None:
        """The frozen part's output for every row (see :class:`FrozenCache`), one ``(seq, hidden)`` tensor each.

        Frozen blocks give the same output every epoch, so they run once instead of once per epoch.
        """
        if self.prefix == 0 or not rows:
            return None
        model = self.model
        encoder = model.encoder
        branch = model.mood_blocks is not None and model.mood_from is not None and self.prefix >= model.mood_from
        was_training = model.training
        model.eval()
        hidden: list[torch.Tensor] = [torch.empty(0)] * len(rows)
        mood: list[torch.Tensor] = [torch.empty(0)] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
        with torch.inference_mode():
            for begin in range(0, len(order), batch_size):
                indices = order[begin : begin + batch_size]
                batch = collate([rows[i] for i in indices])
                mask = batch["attention_mask"]
                x = encoder.embeddings(batch["input_ids"])
                if branch:
                    x = encoder.run_layers(x, mask, 0, model.mood_from)
                    m = run_blocks(model.mood_blocks, x, mask)
                    x = encoder.run_layers(x, mask, model.mood_from, self.prefix)
                else:
                    x = encoder.run_layers(x, mask, 0, self.prefix)
                for k, i in enumerate(indices):
                    hidden[i] = x[k, : len(rows[i].ids)].clone()
                    if branch:
                        mood[i] = m[k, : len(rows[i].ids)].clone()
        model.train(was_training)
        return FrozenCache(hidden, mood if branch else None)

    def _forward(self, batch: dict[str, torch.Tensor], cache: FrozenCache | None, indices: Sequence[int]) -> JointOutput:
        mask = batch["attention_mask"]
        if cache is None:
            return self.model(batch["input_ids"], mask)
        width = mask.shape[1]
        hidden = FrozenCache.pad(cache.hidden, indices, width)
        if self.model.training:
            # the frozen blocks ran once, in eval mode: give the cached states the dropout they would have had
            hidden = F.dropout(hidden, self.model.encoder.config.hidden_dropout_prob, True)
        if cache.mood is None:
            return self.model.forward_hidden(hidden, mask, self.prefix)
        x = self.model.encoder.run_layers(hidden, mask, self.prefix)
        return self.model.heads(x, mask, FrozenCache.pad(cache.mood, indices, width))

    # ----------------------------------------------------------------- evaluation
    @torch.inference_mode()
    def evaluate(
        self, rows: Sequence[TrainingRow], batch_size: int = 128, cache: FrozenCache | None = None
    ) -> dict[str, float]:
        """Intent and sentiment accuracy, entity tag F1, and ``score``: all three pooled by their number of items."""
        model = self.model
        was_training = model.training
        model.eval()
        counts = {"intent": [0, 0], "sentiment": [0, 0]}
        tp = fp = fn = 0
        for begin in range(0, len(rows), batch_size):
            indices = list(range(begin, min(begin + batch_size, len(rows))))
            batch = collate([rows[i] for i in indices])
            out = self._forward(batch, cache, indices)
            for key, logits in (("intent", out.intent_logits), ("sentiment", out.sentiment_logits)):
                target = batch[key]
                seen = target != IGNORE
                counts[key][0] += int((logits.argmax(-1)[seen] == target[seen]).sum())
                counts[key][1] += int(seen.sum())
            if out.entity_logits.shape[-1] > 1:
                target = batch["tags"]
                seen = target != IGNORE
                pred = out.entity_logits.argmax(-1)[seen]
                gold = target[seen]
                tp += int(((pred == gold) & (gold != 0)).sum())
                fp += int(((pred != gold) & (pred != 0)).sum())
                fn += int(((pred != gold) & (gold != 0)).sum())
        if was_training:
            model.train()
        metrics: dict[str, float] = {}
        # the score pools every validation label (micro average): a task with many validation items
        # (intents) is not outvoted by the noise of a task with few (a small sentiment split)
        score, weight = 0.0, 0.0
        for key in ("intent", "sentiment"):
            correct, total = counts[key]
            if total:
                metrics[f"val_{key}_acc"] = correct / total
                score += correct
                weight += total
        if tp + fp + fn:
            metrics["val_entity_f1"] = 2 * tp / (2 * tp + fp + fn)
            score += metrics["val_entity_f1"] * (tp + fn)
            weight += tp + fn
        metrics["score"] = score / weight if weight else 0.0
        return metrics
