"""Fast WordPiece tokenization for the transformer (``tokenizers`` only, no ``transformers``).

Gives the id arrays the encoder needs (int64 numpy: ONNX Runtime takes them as they are, PyTorch through
``torch.from_numpy`` without a copy) plus each wordpiece's character span, so entity tags on
wordpieces map back to character offsets in the user's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class Batch:
    """A padded batch: ``input_ids``/``attention_mask`` (batch, seq) and per-text wordpiece offsets.

    ``offsets[i][j]`` is the ``(start, end)`` character span of wordpiece ``j`` of text ``i``;
    special tokens and padding have ``(0, 0)``. ``word_ids[i][j]`` is the index of the word (as
    BERT's pre-tokenizer splits on spaces and punctuation) that wordpiece ``j`` belongs to.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    offsets: list[list[tuple[int, int]]]
    special: list[list[bool]]
    word_ids: list[list[int | None]]


class WordpieceTokenizer:
    """Wrap a ``tokenizer.json`` with truncation at ``max_length`` and padding to the longest text.

    :param path: a ``tokenizer.json`` file, or a folder that holds one
    :param max_length: wordpieces per text, ``[CLS]`` and ``[SEP]`` included
    """

    def __init__(self, path: str | Path, max_length: int = 64) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        self.path = path
        self.max_length = max_length
        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length)
        self.pad_id = self._tok.token_to_id("[PAD]") or 0

    def encodings(self, texts: list[str]) -> list:
        """The raw ``tokenizers.Encoding`` of each text (ids, offsets, word ids), unpadded."""
        return self._tok.encode_batch(texts) if len(texts) > 1 else [self._tok.encode(texts[0])]

    def encode(self, texts: list[str]) -> Batch:
        """Tokenize ``texts`` into one padded :class:`Batch`."""
        return self.pad(self.encodings(texts))

    def pad(self, encodings: list) -> Batch:
        """One padded :class:`Batch` from :meth:`encodings` (padded to the longest of them)."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        offsets: list[list[tuple[int, int]]] = []
        special: list[list[bool]] = []
        word_ids: list[list[int | None]] = []
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            offsets.append(list(enc.offsets))
            special.append([bool(s) for s in enc.special_tokens_mask])
            word_ids.append(list(enc.word_ids))
        return Batch(ids, mask, offsets, special, word_ids)

    def save(self, folder: str | Path) -> None:
        """Copy the tokenizer definition into ``folder`` (a model stays self-contained)."""
        target = Path(folder) / TOKENIZER_FILE
        target.write_text(self.path.read_text(encoding="utf-8"), encoding="utf-8")
