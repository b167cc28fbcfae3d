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

from nlu.cjk import has_cjk

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


def word_offsets(tokens: list[str], offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans without the space a SentencePiece ``▁word`` piece carries in front of it; a lone
    ``▁`` (before a Chinese word) gets an empty span where the next piece starts."""
    out = []
    for index, (token, (start, end)) in enumerate(zip(tokens, offsets, strict=True)):
        if token == "\u2581" and index + 1 < len(tokens) and offsets[index + 1] != (0, 0):
            start = end = offsets[index + 1][0]
        elif token.startswith("\u2581") and len(token) > 1 and end - start == len(token):
            start += 1
        out.append((start, end))
    return out


def script_word_ids(tokens: list[str], word_ids: list[int | None]) -> list[int | None]:
    """Word ids where every wordpiece holding a CJK character is a word of its own.

    SentencePiece keeps a whole Chinese sentence in one whitespace "word" (``订单A12345到哪了``), so
    entity tags over words would cover the sentence; here ``订单``, ``A``+``123``+``45``, ``到``, … are
    the words (WordPiece's BERT pre-tokenizer already splits CJK characters, so nothing changes there).
    """
    out: list[int | None] = []
    current = -1
    previous_word: int | None = None
    previous_cjk = False
    bare_space = False  # a lone "▁" (SentencePiece's space before a CJK word) belongs to the next word
    for token, word in zip(tokens, word_ids, strict=True):
        if word is None:
            out.append(None)
            previous_word, previous_cjk, bare_space = None, False, False
            continue
        cjk = has_cjk(token)
        if not bare_space and (word != previous_word or cjk or previous_cjk):
            current += 1
        out.append(current)
        bare_space = token == "\u2581"
        previous_word, previous_cjk = word, cjk
    return out


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
        pad = self._tok.token_to_id("[PAD]")
        self.pad_id = pad if pad is not None else (self._tok.token_to_id("<pad>") or 0)

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
            enc_offsets, enc_words = self.words(enc)
            offsets.append(enc_offsets)
            special.append([bool(s) for s in enc.special_tokens_mask])
            word_ids.append(enc_words)
        return Batch(ids, mask, offsets, special, word_ids)

    @staticmethod
    def words(encoding) -> tuple[list[tuple[int, int]], list[int | None]]:
        """Each wordpiece's character span and word id, as entity tags use them (training and parsing alike)."""
        return word_offsets(encoding.tokens, encoding.offsets), script_word_ids(encoding.tokens, encoding.word_ids)

    def save(self, folder: str | Path) -> None:
        """Copy the tokenizer definition into ``folder`` (a model stays self-contained)."""
        target = Path(folder) / TOKENIZER_FILE
        target.write_text(self.path.read_text(encoding="utf-8"), encoding="utf-8")
