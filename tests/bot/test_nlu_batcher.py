"""Micro-batched NLU serving: concurrent turns share network calls and each gets its own answer."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.agent import Agent
from bot.loaders.endpoints_loader import Endpoints
from bot.loaders.training_files import load_nlu_data
from bot.nlu_batcher import BatchingConfigError, BatchingSettings, NLUBatcher
from bot.server import Settings, create_app
from nlu.pipeline import NLUPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nlu"))
from dialogue_support import shop_agent  # noqa: E402
from nlu_support import TINY_NLU, tiny_config  # noqa: E402

TEXTS = [
    "hi", "where is my order A12345", "hello there", "my parcel has not arrived", "good morning",
    "track order B99881 please", "hey", "when will my package arrive", "greetings", "is order D10234 on its way",
    "hiya", "tracking info for my purchase please",
]


class RecordingInterpreter:
    """The real NLU pipeline, recording how many texts each network call carried."""

    def __init__(self, pipeline: NLUPipeline) -> None:
        self.pipeline = pipeline
        self.calls: list[int] = []

    def parse(self, text: str) -> dict[str, Any]:
        self.calls.append(1)
        return self.pipeline.parse(text)

    def parse_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        self.calls.append(len(texts))
        return self.pipeline.parse_batch(texts)


class PoisonInterpreter(RecordingInterpreter):
    """Fails any call that contains the text ``boom`` (a model that breaks on some input)."""

    def parse_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        if "boom" in texts:
            raise ValueError("the model broke on 'boom'")
        return super().parse_batch(texts)

    def parse(self, text: str) -> dict[str, Any]:
        if text == "boom":
            raise ValueError("the model broke on 'boom'")
        return super().parse(text)


@pytest.fixture(scope="module")
def pipeline() -> NLUPipeline:
    return NLUPipeline.from_config(tiny_config()).train(load_nlu_data(TINY_NLU), seed=3, progress=False)


async def test_concurrent_messages_share_batches_and_get_their_own_results(pipeline: NLUPipeline) -> None:
    recorder = RecordingInterpreter(pipeline)
    batcher = NLUBatcher(BatchingSettings(max_batch_size=16, max_wait_ms=20))
    try:
        results = await asyncio.gather(*(batcher.parse(recorder, text) for text in TEXTS))
    finally:
        await batcher.close()
    assert sum(recorder.calls) == len(TEXTS)
    assert len(recorder.calls) < len(TEXTS) / 2, recorder.calls  # batched, not one call per message
    for text, result in zip(TEXTS, results, strict=True):
        alone = pipeline.parse(text)
        assert result["text"] == text
        assert result["intent"]["name"] == alone["intent"]["name"]
        assert result["intent"]["confidence"] == pytest.approx(alone["intent"]["confidence"], abs=1e-4)
        assert [(e["entity"], e["value"]) for e in result["entities"]] == [(e["entity"], e["value"]) for e in alone["entities"]]


async def test_batches_never_exceed_max_batch_size(pipeline: NLUPipeline) -> None:
    recorder = RecordingInterpreter(pipeline)
    batcher = NLUBatcher(BatchingSettings(max_batch_size=4, max_wait_ms=20))
    try:
        await asyncio.gather(*(batcher.parse(recorder, text) for text in TEXTS))
    finally:
        await batcher.close()
    assert max(recorder.calls) <= 4 and sum(recorder.calls) == len(TEXTS)
    assert batcher.batches == len(recorder.calls) and batcher.mean_batch_size == pytest.approx(len(TEXTS) / len(recorder.calls))


async def test_batch_size_one_parses_each_message_alone(pipeline: NLUPipeline) -> None:
    recorder = RecordingInterpreter(pipeline)
    batcher = NLUBatcher(BatchingSettings(max_batch_size=1, max_wait_ms=0))
    try:
        await asyncio.gather(*(batcher.parse(recorder, text) for text in TEXTS[:5]))
    finally:
        await batcher.close()
    assert recorder.calls == [1] * 5


async def test_a_failing_batch_reaches_its_callers_and_the_next_batch_works(pipeline: NLUPipeline) -> None:
    poison = PoisonInterpreter(pipeline)
    batcher = NLUBatcher(BatchingSettings(max_batch_size=8, max_wait_ms=20))
    try:
        outcomes = await asyncio.gather(batcher.parse(poison, "hi"), batcher.parse(poison, "boom"), return_exceptions=True)
        assert all(isinstance(o, ValueError) for o in outcomes)
        assert (await batcher.parse(poison, "hello there"))["intent"]["name"] == "greet"
    finally:
        await batcher.close()


async def test_closing_fails_waiting_callers_instead_of_hanging(pipeline: NLUPipeline) -> None:
    batcher = NLUBatcher(BatchingSettings(max_batch_size=8, max_wait_ms=200))
    waiting = asyncio.ensure_future(batcher.parse(RecordingInterpreter(pipeline), "hi"))
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(RuntimeError, match="shut down"):
        await asyncio.wait_for(waiting, 2)
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.parse(RecordingInterpreter(pipeline), "hi")


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_size": "16"}, "max_batch_size"),
        ({"max_wait_ms": -1}, "max_wait_ms"),
        ({"max_wait_ms": True}, "max_wait_ms"),
        ({"batch": 3}, "unknown key"),
        ({"num_threads": 0}, "num_threads"),
        ({"num_threads": "two"}, "num_threads"),
        ({"num_threads": True}, "num_threads"),
        (["max_batch_size"], "mapping"),
    ],
)
def test_malformed_settings_name_the_key(section: Any, field: str) -> None:
    with pytest.raises(BatchingConfigError, match=field):
        BatchingSettings.from_config(section)


def test_malformed_settings_stop_the_server_before_it_serves() -> None:
    endpoints = Endpoints(other={"nlu_batching": {"max_wait_ms": "soon"}})
    with pytest.raises(BatchingConfigError, match="nlu_batching.max_wait_ms"):
        create_app(Settings(agent=shop_agent(), endpoints=endpoints))


async def test_the_server_batches_concurrent_webhook_messages(aiohttp_client: Any, pipeline: NLUPipeline) -> None:
    recorder = RecordingInterpreter(pipeline)
    base = shop_agent()
    agent = Agent(domain=base.domain, policy=base.policy, interpreter=recorder, nlg=base.nlg)
    endpoints = Endpoints(other={"nlu_batching": {"max_batch_size": 16, "max_wait_ms": 20}})
    client = await aiohttp_client(create_app(Settings(agent=agent, endpoints=endpoints, enable_api=True)))
    responses = await asyncio.gather(*(
        client.post("/webhooks/rest/webhook", json={"sender": f"shopper-{i}", "message": text})
        for i, text in enumerate(TEXTS)
    ))
    bodies = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    greeted = [b for b, text in zip(bodies, TEXTS, strict=True) if text in ("hi", "hello there", "hey", "hiya")]
    assert all(b and b[0]["recipient_id"].startswith("shopper-") and b[0].get("text") for b in greeted)
    assert sum(recorder.calls) == len(TEXTS) and len(recorder.calls) < len(TEXTS)
    batching = (await (await client.get("/status")).json())["nlu_batching"]
    assert batching["messages"] == len(TEXTS) and batching["batches"] == len(recorder.calls)
    assert batching["mean_batch_size"] == round(len(TEXTS) / len(recorder.calls), 2) > 1


def test_serving_threads_default_to_every_core_but_one_and_the_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEFU_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert BatchingSettings.from_config(None).threads == max(1, min(cores - 1, 4))
    assert BatchingSettings.from_config({"num_threads": "auto"}).threads == max(1, min(cores - 1, 4))
    monkeypatch.setenv("KEFU_NUM_THREADS", "3")
    assert BatchingSettings.from_config(None).threads == 3
    assert BatchingSettings.from_config({"num_threads": 2}).threads == 2  # the file's number wins over the env


async def test_the_server_sets_the_networks_threads_before_the_first_message(aiohttp_client: Any) -> None:
    pipeline = NLUPipeline.from_config(tiny_config()).train(load_nlu_data(TINY_NLU), seed=3, progress=False)
    assert pipeline.classifier is not None
    pipeline.classifier.num_threads = 2
    base = shop_agent()
    agent = Agent(domain=base.domain, policy=base.policy, interpreter=pipeline, nlg=base.nlg)
    endpoints = Endpoints(other={"nlu_batching": {"num_threads": 1}})
    client = await aiohttp_client(create_app(Settings(agent=agent, endpoints=endpoints)))
    assert pipeline.classifier.num_threads == 1
    reply = await client.post("/webhooks/rest/webhook", json={"sender": "s1", "message": "hi"})
    assert reply.status == 200 and (await reply.json())[0]["text"]
