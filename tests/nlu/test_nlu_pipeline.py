"""The trained pipeline on a tiny project: parse shape, entities with roles and synonyms, retrieval intents,
sentiment, save/load, determinism, back-ends, and no network needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nlu_support import TINY_NLU, no_network, tiny_config

from bot.loaders.training_files import load_nlu_data
from nlu.pipeline import NLUPipeline

SEED = 7
PROBES = [
    "hello there",
    "where is my order A12345",
    "ship it from Berlin to Munich",
    "please deliver to Rome instead of Turin",
    "recommend some trainers from Nike",
    "what is your return policy",
    "can I pay with paypal",
    "this is the worst shop ever, I am furious!!!",
    "thank you so much, I love it",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[NLUPipeline, Path]:
    """One tiny model for the whole module, trained with the network blocked and saved to disk."""
    data = load_nlu_data(TINY_NLU)
    with no_network():
        pipeline = NLUPipeline.from_config(tiny_config()).train(data, seed=SEED, progress=False)
        folder = pipeline.save(tmp_path_factory.mktemp("tiny") / "nlu-model")
    return pipeline, folder


def _by_role(result: dict) -> dict[str, str]:
    return {e.get("role", "-"): e["value"] for e in result["entities"] if e["entity"] == "city"}


def test_parse_has_rasa_shape_plus_sentiment_and_language(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    result = pipeline.parse("where is my order A12345")
    assert list(result)[:3] == ["text", "intent", "entities"]
    assert set(result) <= {"text", "intent", "entities", "sentiment", "language", "intent_ranking", "text_tokens",
                           "response_selector"}
    assert result["language"] == "en"
    assert result["text"] == "where is my order A12345"
    assert set(result["intent"]) == {"name", "confidence"}
    assert result["intent"]["name"] == "track_order"
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    ranking = result["intent_ranking"]
    assert 1 <= len(ranking) <= 10
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    entity = next(e for e in result["entities"] if e["entity"] == "order_id")
    assert {"entity", "start", "end", "value", "confidence_entity", "extractor"} <= set(entity)
    assert result["text"][entity["start"] : entity["end"]] == "A12345" == entity["value"]
    sentiment = result["sentiment"]
    assert set(sentiment) == {"label", "confidence", "scores"}
    assert set(sentiment["scores"]) == {"positive", "neutral", "negative", "angry", "anxious"}
    assert sum(sentiment["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["text_tokens"][0] == [0, 5]


def test_entities_with_roles(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    roles = _by_role(pipeline.parse("ship it from Berlin to Munich"))
    assert roles == {"from": "Berlin", "to": "Munich"}
    entity = next(e for e in pipeline.parse("ship it from Berlin to Munich")["entities"] if e["value"] == "Munich")
    assert entity["extractor"] == "KefuTransformerClassifier"
    assert 0.0 < entity["confidence_role"] <= 1.0


def test_synonyms_and_lookup_entities(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    result = pipeline.parse("recommend some trainers from Nike")
    category = next(e for e in result["entities"] if e["entity"] == "category")
    assert category["value"] == "sneakers"
    assert category["processors"] == ["EntitySynonymMapper"]
    assert result["text"][category["start"] : category["end"]] == "trainers"
    brand = next(e for e in result["entities"] if e["entity"] == "brand")
    assert (brand["value"], brand["extractor"]) == ("Nike", "RegexEntityExtractor")


def test_retrieval_intents_report_the_base_intent_and_response_selector(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    result = pipeline.parse("what is your return policy")
    assert result["intent"]["name"] == "faq"
    selector = result["response_selector"]
    assert selector["all_retrieval_intents"] == ["faq"]
    assert selector["faq"]["response"]["intent_response_key"] == "faq/returns_policy"
    assert selector["faq"]["response"]["utter_action"] == "utter_faq/returns_policy"
    assert all("/" not in r["name"] for r in result["intent_ranking"])


def test_sentiment_head_works_without_user_labels(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    angry, happy = pipeline.parse_batch(["this is the worst shop ever, I am furious!!!", "thank you so much, I love it"])
    assert angry["sentiment"]["label"] in {"angry", "negative"}
    assert happy["sentiment"]["label"] == "positive"


def test_batch_equals_single(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    batch = pipeline.parse_batch(PROBES)
    for text, result in zip(PROBES, batch, strict=True):
        single = pipeline.parse(text)
        assert single["intent"]["name"] == result["intent"]["name"]
        assert single["intent"]["confidence"] == pytest.approx(result["intent"]["confidence"], abs=1e-4)
        assert [(e["entity"], e["value"]) for e in single["entities"]] == [(e["entity"], e["value"]) for e in result["entities"]]
    assert pipeline.parse("  ")["intent"]["name"] is None


def test_save_load_round_trip_gives_identical_predictions(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, folder = trained
    manifest = (folder / "manifest.json").read_text(encoding="utf-8")
    assert "fingerprint_sha256" in manifest and '"seed": 7' in manifest
    with no_network():
        loaded = NLUPipeline.load(folder)
    assert loaded.parse_batch(PROBES) == pipeline.parse_batch(PROBES)


def test_same_seed_same_predictions(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    data = load_nlu_data(TINY_NLU)
    again = NLUPipeline.from_config(tiny_config()).train(data, seed=SEED, progress=False)
    first, second = pipeline.parse_batch(PROBES), again.parse_batch(PROBES)
    for a, b in zip(first, second, strict=True):
        assert a["intent"]["name"] == b["intent"]["name"]
        assert a["intent"]["confidence"] == pytest.approx(b["intent"]["confidence"], abs=1e-5)
        assert a["sentiment"]["label"] == b["sentiment"]["label"]
        assert [(e["entity"], e["start"], e["end"], e.get("role")) for e in a["entities"]] == [
            (e["entity"], e["start"], e["end"], e.get("role")) for e in b["entities"]
        ]
    assert again.manifest["data"]["fingerprint_sha256"] == pipeline.manifest["data"]["fingerprint_sha256"]


@pytest.mark.parametrize("backend", ["int8", "onnx"])
def test_fast_backends_agree_with_fp32(trained: tuple[NLUPipeline, Path], backend: str) -> None:
    pipeline, folder = trained
    fast = NLUPipeline.load(folder, backend=backend)
    assert fast.classifier is not None and fast.classifier.runtime.name == backend
    reference = pipeline.parse_batch(PROBES)
    results = fast.parse_batch(PROBES)
    agree = sum(a["intent"]["name"] == b["intent"]["name"] for a, b in zip(reference, results, strict=True))
    assert agree >= len(PROBES) - 1
    assert _by_role(fast.parse("ship it from Berlin to Munich")) == {"from": "Berlin", "to": "Munich"}


def test_config_asking_for_onnx_int8_trains_saves_and_serves(tmp_path: Path) -> None:
    """`export: onnx` + `quantize: int8` in config.yml: training answers through PyTorch int8 until the
    model is saved, then the saved model and a fresh load both answer through ONNX Runtime int8."""
    data = load_nlu_data(TINY_NLU)
    with no_network():
        pipeline = NLUPipeline.from_config(tiny_config(export="onnx", quantize="int8")).train(data, seed=SEED, progress=False)
        assert pipeline.classifier is not None and pipeline.classifier.runtime.name == "int8"
        before = pipeline.parse_batch(PROBES)
        folder = pipeline.save(tmp_path / "nlu-model")
    assert pipeline.classifier.runtime.name == "onnx-int8"
    assert any(folder.rglob("*int8*.onnx"))
    loaded = NLUPipeline.load(folder)
    assert loaded.classifier is not None and loaded.classifier.runtime.name == "onnx-int8"
    after = loaded.parse_batch(PROBES)
    agree = sum(a["intent"]["name"] == b["intent"]["name"] for a, b in zip(before, after, strict=True))
    assert agree >= len(PROBES) - 1
    assert loaded.parse("where is my order A12345")["intent"]["name"] == "track_order"


def test_serving_threads_are_set_where_the_model_runs_not_baked_in_at_training(tmp_path: Path) -> None:
    """A thread count nobody configured is the training machine's, not a setting: it is not saved, and
    the server's count (``set_num_threads``) rebuilds the ONNX session without changing any answer."""
    data = load_nlu_data(TINY_NLU)
    with no_network():
        pipeline = NLUPipeline.from_config(tiny_config(export="onnx")).train(data, seed=SEED, progress=False)
        folder = pipeline.save(tmp_path / "nlu-model")
    saved = json.loads((folder / "pipeline.json").read_text(encoding="utf-8"))
    classifier_params = next(c["params"] for c in saved["components"] if c["name"] == "KefuTransformerClassifier")
    assert classifier_params["num_threads"] is None
    loaded = NLUPipeline.load(folder)
    assert loaded.classifier is not None
    before = loaded.parse_batch(PROBES)
    for threads in (1, 2):
        loaded.set_num_threads(threads)
        assert loaded.classifier.num_threads == threads
        assert loaded.classifier.runtime.session.get_session_options().intra_op_num_threads == threads
        assert [r["intent"] for r in loaded.parse_batch(PROBES)] == [r["intent"] for r in before]
    with pytest.raises(ValueError, match="num_threads"):
        loaded.set_num_threads(0)


def test_a_configured_thread_count_is_saved(tmp_path: Path) -> None:
    component = NLUPipeline.from_config(tiny_config(num_threads=3)).classifier
    assert component is not None and component.params()["num_threads"] == 3 and component.num_threads == 3


def test_length_chunks_keep_short_messages_apart_from_long_ones() -> None:
    from nlu.transformer_classifier import length_chunks

    assert length_chunks([], 8) == []
    assert length_chunks([4, 4, 4, 20], 64) == [(0, 3), (3, 4)]  # three short rows are not padded to 20
    assert length_chunks([6] * 6, 64) == [(0, 6)]  # equal lengths: one call
    chunks = length_chunks([5] * 10, 4)
    assert all(end - begin <= 4 for begin, end in chunks)
    assert [i for begin, end in chunks for i in range(begin, end)] == list(range(10))


def test_an_onnx_served_model_reads_its_pytorch_weights_only_when_asked(tmp_path: Path) -> None:
    data = load_nlu_data(TINY_NLU)
    with no_network():
        pipeline = NLUPipeline.from_config(tiny_config(export="onnx")).train(data, seed=SEED, progress=False)
        folder = pipeline.save(tmp_path / "nlu-model")
    loaded = NLUPipeline.load(folder)
    assert loaded.classifier is not None and loaded.classifier.runtime.name == "onnx"
    answer = loaded.parse("where is my order A12345")
    assert loaded.classifier._model is None  # served without reading the PyTorch weights
    assert loaded.classifier.model is not None  # read on demand
    torch_served = NLUPipeline.load(folder, backend="torch")
    assert torch_served.parse("where is my order A12345")["intent"]["name"] == answer["intent"]["name"]
    # a process that only serves the ONNX model never imports PyTorch (2-3 s of a cold start), and parses
    # the same as this one
    code = (
        "import json, sys\n"
        "from nlu.pipeline import NLUPipeline\n"
        f"parsed = NLUPipeline.load({str(folder)!r}).parse('where is my order A12345')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'intent': parsed['intent'],\n"
        "                  'entities': [(e['entity'], e['value']) for e in parsed['entities']]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    served = json.loads(done.stdout.strip().splitlines()[-1])
    assert served["torch"] is False
    assert served["intent"]["name"] == answer["intent"]["name"]
    assert served["intent"]["confidence"] == pytest.approx(answer["intent"]["confidence"], abs=1e-5)
    assert [tuple(e) for e in served["entities"]] == [(e["entity"], e["value"]) for e in answer["entities"]]
