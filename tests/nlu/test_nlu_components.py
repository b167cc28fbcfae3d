"""Fast unit tests of the NLU pieces that need no training: extractors, synonyms, fallback, registry, OOD maths."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ProjectError
from bot.loaders.training_files import load_nlu_data
from bot.training_data import EntitySpan, NLUData, NLUExample
from nlu.fallback_classifier import OOD_FLAG, FallbackClassifier
from nlu.ood import OutOfScopeDetector, oos_recall_at_accuracy
from nlu.regex_extractor import RegexEntityExtractor
from nlu.registry import resolve
from nlu.splits import stratified_folds, stratified_split
from nlu.synonym_mapper import EntitySynonymMapper
from nlu.whitespace_tokenizer import whitespace_tokens


def _data() -> NLUData:
    example = NLUExample(
        "buy nike shoes for order A12345",
        "buy",
        [EntitySpan(4, 8, "nike", "brand"), EntitySpan(25, 31, "A12345", "order_id")],
    )
    return NLUData(
        examples=[example],
        synonyms={"nyc": "New York", "trainers": "sneakers"},
        regexes=[("order_id", r"[A-Z]\d{5}"), ("zip", r"\d{5}")],
        lookups={"brand": ["Nike", "New Balance"], "colour": ["red"]},
    )


def test_unclosed_bracket_in_nlu_yml_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "nlu.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n    - where is my order\n'
        "    - where is [A1234(order_id)\n",
        encoding="utf-8",
    )
    with pytest.raises(ProjectError) as info:
        load_nlu_data(path)
    message = str(info.value)
    assert f"{path}:6:" in message
    assert "unclosed '['" in message


def test_regex_and_lookup_extractor_use_word_boundaries_and_ignore_case() -> None:
    extractor = RegexEntityExtractor().train(_data())
    found = extractor.extract("NIKE and new balance, not nikely; order B54321 or B543210")
    pairs = [(e["entity"], e["value"]) for e in found]
    assert ("brand", "NIKE") in pairs
    assert ("brand", "new balance") in pairs
    assert ("order_id", "B54321") in pairs
    assert all(value != "nikely" for _, value in pairs)
    assert ("order_id", "B543210") not in pairs  # word boundary: no partial match
    # patterns whose name is no annotated entity are not used (Rasa's rule)
    assert all(e["entity"] in {"brand", "order_id"} for e in found)
    assert all(e["extractor"] == "RegexEntityExtractor" and e["confidence_entity"] == 1.0 for e in found)
    brand = next(e for e in found if e["value"] == "NIKE")
    assert (brand["start"], brand["end"]) == (0, 4)


def test_regex_extractor_round_trip(tmp_path: Path) -> None:
    extractor = RegexEntityExtractor().train(_data())
    extractor.save(tmp_path)
    loaded = RegexEntityExtractor.load(tmp_path, extractor.params())
    text = "nike order C11111"
    assert loaded.extract(text) == extractor.extract(text)


def test_synonym_mapper_sets_canonical_value_and_processor() -> None:
    mapper = EntitySynonymMapper().train(_data())
    messages = [{"text": "x", "entities": [
        {"entity": "city", "value": "NYC", "start": 0, "end": 3, "extractor": "KefuTransformerClassifier"},
        {"entity": "city", "value": "Paris", "start": 4, "end": 9, "extractor": "KefuTransformerClassifier"},
    ]}]
    mapper.process(messages)
    first, second = messages[0]["entities"]
    assert first["value"] == "New York" and first["processors"] == ["EntitySynonymMapper"]
    assert second["value"] == "Paris" and "processors" not in second


def _message(*confidences: float) -> dict:
    ranking = [{"name": f"i{k}", "confidence": c} for k, c in enumerate(confidences)]
    return {"text": "t", "intent": dict(ranking[0]), "intent_ranking": ranking, "entities": []}


def test_fallback_classifier_threshold_ambiguity_and_out_of_scope() -> None:
    fallback = FallbackClassifier(threshold=0.4, ambiguity_threshold=0.1)
    low, ambiguous, clear, rejected = _message(0.35, 0.2), _message(0.5, 0.45), _message(0.8, 0.1), _message(0.9, 0.05)
    rejected[OOD_FLAG] = True
    fallback.process([low, ambiguous, clear, rejected])
    for message in (low, ambiguous, rejected):
        assert message["intent"] == {"name": "nlu_fallback", "confidence": 0.4}
        assert message["intent_ranking"][0]["name"] == "nlu_fallback"
        assert len(message["intent_ranking"]) <= 10
    assert clear["intent"]["name"] == "i0"


def test_rasa_component_names_load_with_one_info_line_each(caplog: pytest.LogCaptureFixture) -> None:
    rasa_pipeline = [
        {"name": "WhitespaceTokenizer"},
        {"name": "RegexFeaturizer"},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "LanguageModelFeaturizer", "model_name": "bert"},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
        {"name": "EntitySynonymMapper"},
        {"name": "ResponseSelector", "epochs": 100},
        {"name": "RegexEntityExtractor"},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
        {"name": "addons.custom.MyComponent"},
    ]
    resolved = resolve(rasa_pipeline)
    names = [cls.name for cls, _ in resolved.components]
    assert names == [
        "WhitespaceTokenizer", "KefuTransformerClassifier", "EntitySynonymMapper", "RegexEntityExtractor", "FallbackClassifier",
    ]
    fallback_kwargs = dict(resolved.components)[FallbackClassifier]
    assert fallback_kwargs == {"threshold": 0.3, "ambiguity_threshold": 0.1}
    notes = "\n".join(resolved.notes)
    for rasa_name in ("RegexFeaturizer", "LexicalSyntacticFeaturizer", "LanguageModelFeaturizer", "DIETClassifier",
                      "ResponseSelector", "addons.custom.MyComponent"):
        assert rasa_name in notes
    assert len(resolved.notes) == 8  # one line per skipped or mapped entry (CountVectorsFeaturizer twice)

    from nlu.pipeline import NLUPipeline

    with caplog.at_level(logging.INFO, logger="nlu.registry"):
        pipeline = NLUPipeline.from_config(rasa_pipeline)
    assert pipeline.classifier is not None
    assert sum("DIETClassifier" in r.getMessage() for r in caplog.records) == 1
    # stages: tokenizer, extractors/classifier, synonyms, fallback
    assert [c.name for c in pipeline.components][-2:] == ["EntitySynonymMapper", "FallbackClassifier"]


def test_empty_pipeline_gets_the_default() -> None:
    resolved = resolve([])
    assert "KefuTransformerClassifier" in [cls.name for cls, _ in resolved.components]
    assert "default" in resolved.notes[0]


def test_whitespace_tokens_trim_punctuation() -> None:
    text = "Hi, where's order A123?"
    assert [text[s:e] for s, e in whitespace_tokens(text)] == ["Hi", "where's", "order", "A123"]


def test_splits_are_stratified_seeded_and_disjoint() -> None:
    labels = ["a"] * 10 + ["b"] * 20 + ["c"] * 2
    train, held = stratified_split(labels, 0.2, seed=3)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(labels)
    assert sorted(labels[i] for i in held) == ["a"] * 2 + ["b"] * 4  # "c" is too small to hold out
    assert stratified_split(labels, 0.2, seed=3) == (train, held)
    folds = stratified_folds(labels, 4, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(len(labels)))


def test_oos_recall_at_accuracy_picks_the_best_feasible_threshold() -> None:
    in_scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2])
    in_correct = np.array([True, True, True, True, False])
    oos_scores = np.array([0.1, 0.3, 0.65, 0.95])
    recall, accuracy, threshold = oos_recall_at_accuracy(in_scores, in_correct, oos_scores, min_accuracy=0.8)
    # rejecting everything below 0.6 keeps the 4 correct in-scope (accuracy 0.8) and catches 2 of 4 OOS
    assert recall == pytest.approx(0.5) and accuracy == pytest.approx(0.8)
    assert 0.3 < threshold <= 0.6


def test_detectors_score_nearby_higher_than_far() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, 8) * 5
    pooled = np.concatenate([c + rng.normal(0, 0.3, (30, 8)) for c in centres])
    labels = np.repeat(np.arange(4), 30)
    detector = OutOfScopeDetector(method="mahalanobis")
    detector.fit(pooled, labels, 4)
    near = centres[1:2] + 0.1
    far = np.ones((1, 8)) * -3
    logits = np.zeros((1, 4))
    for method in ("centroid", "mahalanobis"):
        assert detector.scores(logits, near, method)[0] > detector.scores(logits, far, method)[0]
    detector.calibrate(detector.scores(np.zeros((120, 4)), pooled), in_scope_recall=0.95)
    assert not detector.reject(logits, near)[0] and detector.reject(logits, far)[0]
