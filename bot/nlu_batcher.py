"""Micro-batched NLU serving: messages from concurrent conversations share one network call.

A transformer costs almost the same for 8 short messages as for one, so under load the server
collects what arrives within ``max_wait_ms`` (at most ``max_batch_size`` messages), parses them with
one ``parse_batch`` call in a dedicated worker thread, and hands every waiting turn its own result.
While a batch runs, the next one fills up and waits in line behind it (two batches in flight), so
batches grow with the load by themselves and the worker never idles while messages wait. The event
loop never runs the network: it only queues texts and awaits futures.

Configured by ``endpoints.yml``::

    nlu_batching:
      max_batch_size: 16   # 1 turns batching off (each message still runs in the worker thread)
      max_wait_ms: 2       # how long the first message of a batch waits for company
      num_threads: auto    # threads of the network: every core but one (the event loop's); KEFU_NUM_THREADS overrides auto
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot import turn_timing
from bot.errors import KefuError
from nlu.constants import serving_num_threads

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_MAX_WAIT_MS = 2.0
BATCHES_IN_FLIGHT = 2  # one parsing, one queued behind it


class BatchingConfigError(KefuError):
    """``endpoints.yml``'s ``nlu_batching:`` section is malformed (the message names the key)."""


@dataclass(frozen=True)
class BatchingSettings:
    """How the server groups NLU calls.

    :param max_batch_size: most messages parsed in one network call (1: no batching)
    :param max_wait_ms: longest a message waits for others to join its batch
    :param num_threads: threads the network runs on (None: ``auto``, every core but one)
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    num_threads: int | None = None

    @property
    def threads(self) -> int:
        """The thread count in force: the configured one, else every core but one."""
        return self.num_threads or serving_num_threads()

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> BatchingSettings:
        """Read ``endpoints.yml``'s ``nlu_batching:`` section (absent: the defaults)."""
        if config is None:
            return cls()
        if not isinstance(config, dict):
            raise BatchingConfigError(f"endpoints.yml: 'nlu_batching' must be a mapping, not {type(config).__name__}")
        unknown = sorted(set(config) - {"max_batch_size", "max_wait_ms", "num_threads"})
        if unknown:
            raise BatchingConfigError(
                f"endpoints.yml: nlu_batching has unknown key(s) {', '.join(unknown)} "
                "(known: max_batch_size, max_wait_ms, num_threads)"
            )
        size = config.get("max_batch_size", DEFAULT_MAX_BATCH_SIZE)
        wait = config.get("max_wait_ms", DEFAULT_MAX_WAIT_MS)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BatchingConfigError(f"endpoints.yml: nlu_batching.max_batch_size must be an integer >= 1, got {size!r}")
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 1000:
            raise BatchingConfigError(f"endpoints.yml: nlu_batching.max_wait_ms must be a number from 0 to 1000, got {wait!r}")
        threads = config.get("num_threads", "auto")
        if threads == "auto" or threads is None:
            threads = None
        elif isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
            raise BatchingConfigError(
                f"endpoints.yml: nlu_batching.num_threads must be 'auto' or an integer from 1 to 64, got {threads!r}")
        return cls(max_batch_size=size, max_wait_ms=float(wait), num_threads=threads)


@dataclass
class _Request:
    interpreter: Any
    text: str
    future: asyncio.Future[dict[str, Any]]
    run_seconds: float = 0.0  # how long the batch it was parsed in ran in the worker thread


class NLUBatcher:
    """Parses texts for many coroutines, batching those that arrive together.

    :param settings: batch size and wait
    :param executor: where the network runs (default: one dedicated thread; torch's own threads
        then parallelise inside each call instead of two calls fighting over two cores)

    Use inside a running event loop: ``result = await batcher.parse(interpreter, text)``; call
    :meth:`close` at shutdown (pending callers get an error, nobody waits forever).
    """

    def __init__(self, settings: BatchingSettings | None = None, executor: ThreadPoolExecutor | None = None) -> None:
        self.settings = settings or BatchingSettings()
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-nlu")
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._waiting: set[asyncio.Future[dict[str, Any]]] = set()  # every caller not yet answered
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()  # interpreters already set to our threads
        self._in_flight: set[asyncio.Task[None]] = set()  # batches handed to the worker thread
        self.batches = 0  # counters for /status and benchmarks
        self.messages = 0

    async def parse(self, interpreter: Any, text: str) -> dict[str, Any]:
        """The parse result of ``text`` by ``interpreter`` (Rasa's ``/model/parse`` shape)."""
        if self._closed:
            raise RuntimeError("the NLU batcher is closed (the server is shutting down)")
        if self._queue is None:
            self._queue = asyncio.Queue()
            # its own empty context: the worker outlives the request that happened to start it
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="kefu-nlu-batcher",
                                                                  context=contextvars.Context())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.add(future)
        future.add_done_callback(self._waiting.discard)
        request = _Request(interpreter, text, future)
        queued = time.perf_counter()
        self._queue.put_nowait(request)
        try:
            return await future
        finally:
            timing = turn_timing.current()
            if timing is not None:  # the Server-Timing header: waiting for the batch vs its run
                timing.add("nlu", request.run_seconds)
                timing.add("nlu-wait", time.perf_counter() - queued - request.run_seconds)

    async def prepare(self, interpreter: Any) -> None:
        """Set ``interpreter``'s network to the serving thread count now (else before its first batch)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._prepare, interpreter)

    def _prepare(self, interpreter: Any) -> None:
        """In the worker thread: give ``interpreter`` the configured threads, once."""
        try:
            if interpreter in self._prepared:
                return
        except TypeError:  # not weak-referenceable (a stub): nothing to set
            return
        setter = getattr(interpreter, "set_num_threads", None)
        if callable(setter):
            threads = self.settings.threads
            setter(threads)
            logger.info("NLU network serving on %d thread(s)", threads)
        self._prepared.add(interpreter)

    @property
    def mean_batch_size(self) -> float:
        return self.messages / self.batches if self.batches else 0.0

    def stats(self) -> dict[str, Any]:
        """Settings and counters since start (``GET /status`` shows them)."""
        return {"max_batch_size": self.settings.max_batch_size, "max_wait_ms": self.settings.max_wait_ms,
                "num_threads": self.settings.threads, "batches": self.batches, "messages": self.messages,
                "mean_batch_size": round(self.mean_batch_size, 2)}

    async def close(self) -> None:
        """Stop the worker; callers still waiting get a ``RuntimeError``."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        for future in list(self._waiting):  # queued, or taken into a batch that never ran
            if not future.done():
                future.set_exception(RuntimeError("the server shut down before this message was parsed"))
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    async def _collect(self) -> list[_Request]:
        """The next batch: wait for one request, then take others until full or ``max_wait_ms`` passed."""
        assert self._queue is not None
        batch = [await self._queue.get()]
        limit = self.settings.max_batch_size
        deadline = time.monotonic() + self.settings.max_wait_ms / 1000.0
        while len(batch) < limit:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        # Two batches in flight: while the worker thread parses one, the next is already queued behind it,
        # so the thread goes straight on instead of idling until the busy event loop hands it more.
        slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        loop = asyncio.get_running_loop()
        while True:
            await slots.acquire()
            try:
                batch = await self._collect()
            except BaseException:
                slots.release()
                raise
            task = loop.create_task(self._execute(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            task.add_done_callback(lambda _task: slots.release())

    async def _execute(self, batch: list[_Request]) -> None:
        """Parse one batch in the worker thread and answer each of its callers."""
        loop = asyncio.get_running_loop()
        # a model swap (PUT /model) may put two interpreters in one batch: one call per interpreter
        groups: dict[int, list[_Request]] = {}
        for request in batch:
            groups.setdefault(id(request.interpreter), []).append(request)
        for requests in groups.values():
            live = [r for r in requests if not r.future.done()]  # a caller may have gone away
            if not live:
                continue
            try:
                results, seconds = await loop.run_in_executor(self._executor, self._parse_all, live[0].interpreter,
                                                              [r.text for r in live])
            except Exception as exc:  # the model failed: every caller of this batch hears why
                logger.exception("NLU failed on a batch of %d message(s)", len(live))
                for request in live:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            self.batches += 1
            self.messages += len(live)
            for request, result in zip(live, results, strict=True):
                request.run_seconds = seconds
                if not request.future.done():
                    request.future.set_result(result)

    def _parse_all(self, interpreter: Any, texts: list[str]) -> tuple[list[dict[str, Any]], float]:
        """In the worker thread: ``parse_batch`` when the interpreter has one, else one ``parse`` per text;
        also how long that took."""
        self._prepare(interpreter)
        started = time.perf_counter()
        results = _parse_texts(interpreter, texts)
        return results, time.perf_counter() - started


def _parse_texts(interpreter: Any, texts: list[str]) -> list[dict[str, Any]]:
    """``parse_batch`` when the interpreter has one (the NLU pipeline), else one ``parse`` per text."""
    parse_batch = getattr(interpreter, "parse_batch", None)
    if callable(parse_batch) and len(texts) > 1:
        return [dict(r) for r in parse_batch(texts)]
    return [dict(interpreter.parse(text)) for text in texts]
