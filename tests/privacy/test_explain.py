"""Explanations: occlusion attributions for the predicted intent, over HTTP and in ``kefu shell --explain``."""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import pytest
from privacy_support import privacy_agent

from bot.explain import explain_intent, format_explanation
from bot.server import Settings, create_app

CUES = {"track_order": {"where", "order", "parcel", "tracking"}, "greet": {"hi", "hello"}}
MAX_LATENCY_MS = 250.0


class KeywordInterpreter:
    """A stand-in NLU model: a softmax over keyword counts (so occluding a cue word lowers its intent)."""

    calls = 0

    def parse(self, text: str) -> dict[str, Any]:
        KeywordInterpreter.calls += 1
        words = [w.strip("?!.,").lower() for w in text.split()]
        logits = {intent: 2.0 * sum(w in cues for w in words) for intent, cues in CUES.items()}
        logits["out_of_scope"] = 0.5
        total = sum(math.exp(v) for v in logits.values())
        ranking = sorted(({"name": k, "confidence": math.exp(v) / total} for k, v in logits.items()),
                         key=lambda e: -e["confidence"])
        return {"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": []}


def test_cue_words_get_the_largest_attributions() -> None:
    parse = KeywordInterpreter().parse
    explanation = explain_intent(parse, "hey, where is my parcel?")
    assert explanation["intent"] == "track_order" and explanation["method"] == "occlusion"
    by_token = {t["token"]: t["attribution"] for t in explanation["tokens"]}
    assert set(by_token) == {"hey", ",", "where", "is", "my", "parcel", "?"}
    assert by_token["where"] > 0.1 and by_token["parcel"] > 0.1
    assert all(abs(by_token[t]) < 1e-9 for t in ("hey", ",", "is", "my", "?"))
    spans = [("hey, where is my parcel?"[t["start"]:t["end"]], t["token"]) for t in explanation["tokens"]]
    assert all(a == b for a, b in spans)
    assert "where" in format_explanation(explanation) and "ms" in format_explanation(explanation)


def test_payloads_have_nothing_to_explain() -> None:
    explanation = explain_intent(KeywordInterpreter().parse, "/greet", {"intent": {"name": "greet", "confidence": 1}})
    assert explanation["tokens"] == [] and explanation["confidence"] == 1.0


async def test_model_parse_explain_true(aiohttp_client: Any) -> None:
    agent = privacy_agent()
    agent.interpreter = KeywordInterpreter()
    client = await aiohttp_client(create_app(Settings(agent=agent, enable_api=True)))
    plain = await (await client.post("/model/parse", json={"text": "hello there"})).json()
    assert "explanation" not in plain
    messages = ["hello there", "where is my order A12345", "tracking says my parcel is late, where is it?",
                "hi, I need help with my order please"] * 5
    latencies = []
    for text in messages:
        started = time.perf_counter()
        body = await (await client.post("/model/parse?explain=true", json={"text": text})).json()
        latencies.append((time.perf_counter() - started) * 1000)
        explanation = body["explanation"]
        assert explanation["intent"] == body["intent"]["name"]
        assert len(explanation["tokens"]) == len(text.replace(",", " , ").replace("?", " ?").split())
        best = max(explanation["tokens"], key=lambda t: t["attribution"])["token"].lower()
        assert best in CUES[body["intent"]["name"]]
    print(f"\n/model/parse?explain=true: median {statistics.median(latencies):.1f} ms per message "
          f"(explanation itself {explanation['latency_ms']:.1f} ms) with a keyword stand-in model")
    assert statistics.median(latencies) < MAX_LATENCY_MS


def test_shell_explain_prints_attributions(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    from bot.commands import shell_cmd

    agent = privacy_agent()
    agent.interpreter = KeywordInterpreter()
    agent.model_path = "test-model"
    monkeypatch.setattr(shell_cmd, "load_model", lambda _path: agent)
    monkeypatch.setattr(shell_cmd, "resolve_model_path", lambda path: path)
    lines = iter(["where is my parcel", "/stop"])
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(lines))
    parser = argparse.ArgumentParser()
    shell_cmd.add_args(parser)
    assert shell_cmd.run(parser.parse_args(["--explain", "--endpoints", "none.yml"])) == 0
    out = capsys.readouterr().out
    assert "why track_order:" in out and "parcel +" in out and "ms, occlusion" in out


def test_batch_parse_gives_the_same_attributions_in_one_call() -> None:
    interpreter = KeywordInterpreter()
    batches: list[int] = []

    def parse_batch(texts: list[str]) -> list[dict[str, Any]]:
        batches.append(len(texts))
        return [interpreter.parse(t) for t in texts]

    text = "where is my parcel"
    one_by_one = explain_intent(interpreter.parse, text)
    batched = explain_intent(interpreter.parse, text, parse_batch=parse_batch)
    assert batches == [4]
    assert [t["attribution"] for t in batched["tokens"]] == [t["attribution"] for t in one_by_one["tokens"]]
    single = explain_intent(interpreter.parse, "parcel", parse_batch=parse_batch)  # nothing left once occluded
    assert single["tokens"][0]["attribution"] == pytest.approx(single["confidence"])
