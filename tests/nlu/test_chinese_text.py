"""Chinese text through the non-neural NLU parts: tokenizers, regex/lookup entities, explanations."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.explain import explain_intent
from bot.training_data import EntitySpan, NLUData, NLUExample
from bot.validator import known_component_names
from nlu.cjk import cjk_word_spans, has_cjk, is_cjk, is_cjk_ideograph
from nlu.pipeline import NLUPipeline
from nlu.regex_extractor import PATTERNS_FILE, RegexEntityExtractor
from nlu.registry import resolve
from nlu.whitespace_tokenizer import WhitespaceTokenizer, whitespace_tokens

HAS_JIEBA = importlib.util.find_spec("jieba") is not None
ORDER = "订单A12345到哪了"


def _words(text: str, spans: list[list[int]]) -> list[str]:
    return [text[start:end] for start, end in spans]


def _data() -> NLUData:
    examples = [
        NLUExample("订单A12345到哪了", "track_order", [EntitySpan(2, 8, "A12345", "order_id")]),
        NLUExample("我想买一双运动鞋", "buy", [EntitySpan(5, 8, "运动鞋", "product")]),
        NLUExample("buy nike shoes", "buy", [EntitySpan(4, 8, "nike", "brand")]),
    ]
    return NLUData(examples=examples, regexes=[("order_id", r"[A-Z]\d{5}")],
                   lookups={"product": ["运动鞋", "鞋", "T恤"], "brand": ["nike", "New Balance"]})


def _entities(extractor: RegexEntityExtractor, text: str) -> list[tuple[str, str, int, int]]:
    return sorted((e["entity"], e["value"], e["start"], e["end"]) for e in extractor.extract(text))


# --------------------------------------------------------------------------------------- cjk helpers
def test_cjk_characters_and_script_aware_spans() -> None:
    assert is_cjk("订") and is_cjk("㐀") and is_cjk("\U00020000") and is_cjk("豈")  # basic, Ext A, Ext B, compat
    assert is_cjk("，") and is_cjk("。") and is_cjk("？") and is_cjk("「")  # CJK / full-width punctuation
    assert not is_cjk("A") and not is_cjk("1") and not is_cjk("Ａ") and not is_cjk(",") and not is_cjk("")
    assert is_cjk_ideograph("订") and not is_cjk_ideograph("，")
    assert has_cjk("where is 订单") and not has_cjk("where is my order A12345?")
    text = "订单A12345到哪了？我的邮箱是john.doe@example.com。"
    assert _words(text, cjk_word_spans(text)) == [
        "订", "单", "A12345", "到", "哪", "了", "我", "的", "邮", "箱", "是", "john.doe@example.com"]


# --------------------------------------------------------------------------------------- WhitespaceTokenizer
def test_whitespace_tokenizer_splits_chinese_by_script() -> None:
    messages = [{"text": ORDER}, {"text": "你好, where's order A123？"}, {"text": "Hi, where's order A123?"}]
    WhitespaceTokenizer().process(messages)
    assert _words(ORDER, messages[0]["text_tokens"]) == ["订", "单", "A12345", "到", "哪", "了"]
    assert _words(messages[1]["text"], messages[1]["text_tokens"]) == ["你", "好", "where's", "order", "A123"]
    # text without CJK: exactly as before (split on whitespace, edge punctuation trimmed)
    assert _words(messages[2]["text"], messages[2]["text_tokens"]) == ["Hi", "where's", "order", "A123"]
    assert whitespace_tokens("(see: A-12, x.y!)") == [[1, 4], [6, 10], [12, 15]]


# --------------------------------------------------------------------------------------- RegexEntityExtractor
def test_regex_finds_an_order_id_between_chinese_characters() -> None:
    extractor = RegexEntityExtractor().train(_data())
    assert _entities(extractor, ORDER) == [("order_id", "A12345", 2, 8)]
    assert _entities(extractor, "单号是B54321，谢谢") == [("order_id", "B54321", 3, 9)]
    assert _entities(extractor, "订单A123456到哪了") == []  # still no partial match inside an alphanumeric run
    assert _entities(extractor, "order XA12345 or A12345x") == []


def test_chinese_lookup_entries_match_inside_chinese_sentences() -> None:
    extractor = RegexEntityExtractor().train(_data())
    text = "我想买一双运动鞋"
    assert _entities(extractor, text) == [("product", "运动鞋", 5, 8)]  # the longest entry wins, exact span
    assert _entities(extractor, "这件t恤和那双鞋") == [("product", "t恤", 2, 4), ("product", "鞋", 7, 8)]
    assert _entities(extractor, "我想买nike的鞋") == [("brand", "nike", 3, 7), ("product", "鞋", 8, 9)]


def test_english_lookups_keep_word_boundaries() -> None:
    extractor = RegexEntityExtractor().train(_data())
    assert _entities(extractor, "nikes and nikely") == []
    assert _entities(extractor, "NIKE or new balance") == [("brand", "NIKE", 0, 4), ("brand", "new balance", 8, 19)]
    assert _entities(RegexEntityExtractor(use_word_boundaries=False).train(_data()), "nikes") == [
        ("brand", "nike", 0, 4)]


def test_models_saved_with_plain_word_boundaries_match_chinese_after_loading(tmp_path: Path) -> None:
    legacy = [{"name": "order_id", "pattern": r"\b(?:[A-Z]\d{5})\b"}, {"name": "product", "pattern": r"\b(?:运动鞋)\b"}]
    (tmp_path / PATTERNS_FILE).write_text(json.dumps(legacy), encoding="utf-8")
    loaded = RegexEntityExtractor.load(tmp_path, RegexEntityExtractor().params())
    assert _entities(loaded, "订单A12345的运动鞋") == [("order_id", "A12345", 2, 8), ("product", "运动鞋", 9, 12)]
    assert _entities(loaded, "order A123456") == []


# --------------------------------------------------------------------------------------- JiebaTokenizer
def test_jieba_tokenizer_is_a_known_component() -> None:
    resolved = resolve([{"name": "JiebaTokenizer", "dictionary_path": None}, {"name": "RegexEntityExtractor"}])
    assert [cls.name for cls, _ in resolved.components][:2] == ["JiebaTokenizer", "RegexEntityExtractor"]
    assert not any("JiebaTokenizer" in note for note in resolved.notes)  # neither mapped nor skipped
    assert "JiebaTokenizer" in known_component_names()  # kefu data validate accepts it
    two = resolve([{"name": "JiebaTokenizer"}, {"name": "WhitespaceTokenizer"}])
    assert [cls.name for cls, _ in two.components].count("WhitespaceTokenizer") == 0
    assert any("WhitespaceTokenizer: skipped" in note for note in two.notes)


@pytest.mark.skipif(not HAS_JIEBA, reason="jieba is not installed (pip install 'kefu[zh]')")
def test_jieba_tokenizer_gives_words_and_loads_user_dictionaries(tmp_path: Path) -> None:
    from nlu.jieba_tokenizer import JiebaTokenizer

    dictionaries = tmp_path / "jieba_dicts"
    dictionaries.mkdir()
    (dictionaries / "shop.txt").write_text("闪电达 100 nz\n", encoding="utf-8")
    config = [{"name": "JiebaTokenizer", "dictionary_path": str(dictionaries)}, {"name": "RegexEntityExtractor"}]
    pipeline = NLUPipeline([cls(**kwargs) for cls, kwargs in resolve(config).components if cls.name != "KefuTransformerClassifier"])
    pipeline.train(_data(), progress=False)
    result = pipeline.parse(ORDER + "？")
    assert _words(ORDER, result["text_tokens"]) == ["订单", "A12345", "到", "哪", "了"]
    assert [(e["value"], e["start"], e["end"]) for e in result["entities"]] == [("A12345", 2, 8)]
    text = "闪电达快递到哪了"
    assert _words(text, pipeline.parse(text)["text_tokens"])[:2] == ["闪电达", "快递"]  # the user dictionary's word
    assert _words(text, JiebaTokenizer().tokens(text))[:2] == ["闪电", "达"]  # jieba's own dictionary alone
    # the saved model carries the user dictionary: the folder is not needed any more
    pipeline.save(tmp_path / "model")
    (dictionaries / "shop.txt").unlink()
    dictionaries.rmdir()
    loaded = NLUPipeline.load(tmp_path / "model")
    assert _words(text, loaded.parse(text)["text_tokens"])[:2] == ["闪电达", "快递"]
    split = JiebaTokenizer(token_pattern=r"[A-Za-z]+|\d+")
    assert _words(ORDER, split.tokens(ORDER)) == ["订单", "A", "12345", "到", "哪", "了"]


def _write_project(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"language": "zh", "pipeline": [{"name": "JiebaTokenizer"}]}), encoding="utf-8")
    nlu = tmp_path / "nlu.yml"
    nlu.write_text('version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n    - 订单到哪了\n    - 我的快递呢\n'
                   "- intent: greet\n  examples: |\n    - 你好\n    - 您好\n", encoding="utf-8")
    return config, nlu


def test_missing_jieba_is_a_clear_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.errors import KefuError

    monkeypatch.setitem(sys.modules, "jieba", None)  # what `import jieba` does when it is not installed
    with pytest.raises(KefuError, match=r"JiebaTokenizer.*pip install 'kefu\[zh\]'"):
        NLUPipeline.from_config([{"name": "JiebaTokenizer"}], "zh")
    config, nlu = _write_project(tmp_path)
    code = main(["train", "nlu", "--config", str(config), "--data", str(nlu), "--out", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: JiebaTokenizer needs the jieba package" in err and "kefu[zh]" in err and "Traceback" not in err
    assert not (tmp_path / "models").exists()


# --------------------------------------------------------------------------------------- explanations
CUES = {"track_order": ("订单", "快递", "物流"), "greet": ("你好",)}


def _keyword_parse(text: str) -> dict[str, Any]:
    """A stand-in NLU model: a softmax over cue-word counts (occluding a cue character lowers its intent)."""
    logits = {intent: 2.0 * sum(cue in text for cue in cues) for intent, cues in CUES.items()}
    logits["out_of_scope"] = 0.5
    total = sum(math.exp(v) for v in logits.values())
    ranking = sorted(({"name": k, "confidence": math.exp(v) / total} for k, v in logits.items()),
                     key=lambda e: -e["confidence"])
    return {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": [],
            "text_tokens": whitespace_tokens(text)}


def test_chinese_sentences_are_explained_per_token() -> None:
    text = "请问我的订单A12345到哪了？"
    explanation = explain_intent(_keyword_parse, text)
    assert explanation["intent"] == "track_order"
    tokens = [t["token"] for t in explanation["tokens"]]
    assert tokens == ["请", "问", "我", "的", "订", "单", "A12345", "到", "哪", "了", "？"]
    assert all(text[t["start"]:t["end"]] == t["token"] for t in explanation["tokens"])
    by_token = {t["token"]: t["attribution"] for t in explanation["tokens"]}
    assert by_token["订"] > 0.1 and by_token["单"] > 0.1
    assert all(abs(by_token[t]) < 1e-9 for t in ("请", "我", "A12345", "到", "？"))


def test_chinese_explanations_use_the_pipelines_words() -> None:
    text = "你好，订单到哪了"

    def jieba_like_parse(sentence: str) -> dict[str, Any]:
        result = _keyword_parse(sentence)
        if sentence == text:  # words as a word tokenizer (JiebaTokenizer) gives them
            result["text_tokens"] = [[0, 2], [3, 5], [5, 6], [6, 7], [7, 8]]
        return result

    explanation = explain_intent(jieba_like_parse, text, parse_batch=lambda texts: [jieba_like_parse(t) for t in texts])
    assert [t["token"] for t in explanation["tokens"]] == ["你好", "，", "订单", "到", "哪", "了"]
    by_token = {t["token"]: t["attribution"] for t in explanation["tokens"]}
    assert by_token["订单"] > 0.1 and abs(by_token["到"]) < 1e-9
