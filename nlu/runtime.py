"""Inference back-ends for the joint model: ONNX Runtime here, PyTorch in :mod:`nlu.torch_runtime`.

Each back-end is a callable ``(input_ids, attention_mask) -> JointArrays`` over int64 numpy
arrays, so the classifier's decoding code does not care which one ran. This module does not import
PyTorch: a bot that serves an ONNX model never loads it (``import torch`` alone is 2-3 s of a cold start
on a 2-core machine, and ~200 MB of memory).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
OUTPUT_NAMES = ["pooled", "intent_logits", "sentiment_logits", "entity_logits", "role_logits", "group_logits"]
BACKENDS = ("torch", "int8", "onnx", "onnx-int8")


class JointArrays(NamedTuple):
    """:class:`nlu.joint_model.JointOutput` as float32 numpy arrays."""

    pooled: np.ndarray
    intent_logits: np.ndarray
    sentiment_logits: np.ndarray
    entity_logits: np.ndarray
    role_logits: np.ndarray
    group_logits: np.ndarray


class Runtime(Protocol):
    """What the classifier calls to run the network."""

    name: str

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> JointArrays: ...

    def set_num_threads(self, num_threads: int) -> None: ...


def set_threads(num_threads: int) -> None:
    """Set torch's intra-op threads (process-wide), if this process has imported torch at all."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


class OnnxRuntime:
    """Run an exported ``model.onnx`` with ONNX Runtime on the CPU.

    :param path: the ``.onnx`` file
    :param num_threads: intra-op threads
    :param spin: let idle intra-op threads busy-wait (lower latency for back-to-back calls, but they burn
        CPU that a server on the same cores needs; off unless ``KEFU_ORT_SPIN=1``)
    """

    def __init__(self, path: str | Path, num_threads: int = 2, spin: bool | None = None) -> None:
        if spin is None:
            spin = os.environ.get("KEFU_ORT_SPIN", "0") == "1"
        self.path = Path(path)
        self.num_threads = num_threads
        self.spin = spin
        self.name = "onnx-int8" if str(path).endswith(ONNX_INT8_FILE) else "onnx"
        self.session = self._new_session()

    def _new_session(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        if not self.spin:
            # idle pool threads sleep instead of busy-waiting for the next batch: on a small box the
            # server's event loop needs that core more than the next inference needs a warm thread
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def set_num_threads(self, num_threads: int) -> None:
        """Run on ``num_threads`` intra-op threads from now on (the session is rebuilt, ~0.1 s)."""
        if num_threads != self.num_threads:
            self.num_threads = num_threads
            self.session = self._new_session()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> JointArrays:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        return JointArrays(*self.session.run(OUTPUT_NAMES, feeds))


def quantize_onnx(source: Path, target: Path, keep_fp32: Sequence[str] = ()) -> Path:
    """ONNX Runtime's dynamic int8 quantization of ``source`` into ``target``, one scale per output channel.

    Per channel, not per tensor: on multilingual-e5-small one scale per matrix changed the intent of 2.6 %
    and the mood of 12 % of the demo shop's held-out messages against fp32; per channel 1.2 % and 6 %, at the
    same speed. ``keep_fp32`` names MatMul nodes left in fp32 (see :func:`mood_path_fp32_nodes`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_exclude=list(keep_fp32))
    return target


def mood_path_fp32_nodes(onnx_path: Path, mood_from: int | None) -> list[str]:
    """The FFN output projections (the MatMul after GELU) of every block the mood branch reads: the shared
    blocks below ``mood_from`` and the mood blocks. Empty without a mood branch.

    The GELU output has outliers that one dynamic activation scale per tensor flattens. Chosen by agreement
    with fp32 on 3,000 of the mood adapter's *training* rows (multilingual-e5-small demo model): every MatMul
    int8 changed 6.5 % of moods; these 8 in fp32, 2.3 % (all 12 FFN outputs: the same 2.3 %); intents changed
    0 % either way; single-message p50 3.5 → 3.8 ms."""
    if mood_from is None:
        return []
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    pattern = re.compile(r"/(?:layers\.(\d+)|mood_blocks\.\d+)/output/MatMul$")
    keep = []
    for node in graph.node:
        match = pattern.search(node.name) if node.op_type == "MatMul" else None
        if match and (match.group(1) is None or int(match.group(1)) < mood_from):
            keep.append(node.name)
    return keep
