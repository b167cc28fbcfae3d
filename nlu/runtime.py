"""Inference back-ends for the joint model: PyTorch fp32, PyTorch int8 (dynamic quantization), ONNX Runtime.

Each back-end is a callable ``(input_ids, attention_mask) -> JointArrays`` over int64 numpy
arrays, so the classifier's decoding code does not care which one ran.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import nn

from nlu.joint_model import JointModel, OnnxWrapper

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

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> JointArrays: ...

    def set_num_threads(self, num_threads: int) -> None: ...


def set_threads(num_threads: int) -> None:
    """Set torch's intra-op threads (once per process; inter-op can only be set before first use)."""
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


class TorchRuntime:
    """Run the model with PyTorch under ``torch.inference_mode``.

    The fp32 network is traced and frozen with TorchScript (weights folded in as constants, fewer Python
    dispatches): ~10 % less time per single message on a 2-core CPU, same outputs to 1e-5. If tracing
    fails the eager module runs instead.

    :param model: the trained network
    :param quantize: ``None`` (fp32) or ``"int8"`` (dynamic int8 quantization of every ``nn.Linear``)
    :param num_threads: torch intra-op threads
    :param freeze: trace and freeze the fp32 network (``False``: run it eagerly)
    """

    def __init__(self, model: JointModel, quantize: str | None = None, num_threads: int = 2,
                 freeze: bool = True) -> None:
        set_threads(num_threads)
        model = model.eval()
        runner: nn.Module | torch.jit.ScriptModule = model
        if quantize == "int8":
            runner = quantize_int8(model)
        elif quantize not in (None, "none"):
            raise ValueError(f"quantize must be 'int8' or none, got {quantize!r}")
        elif freeze:
            runner = freeze_for_inference(model)
        self.model = runner
        self.name = "int8" if quantize == "int8" else "torch"

    def set_num_threads(self, num_threads: int) -> None:
        """Run on ``num_threads`` intra-op threads from now on (torch's setting is process-wide)."""
        set_threads(num_threads)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> JointArrays:
        with torch.inference_mode():
            out = self.model(input_ids, attention_mask)
        return JointArrays(*(t.float().numpy() for t in out))


def freeze_for_inference(model: JointModel) -> nn.Module | torch.jit.ScriptModule:
    """``model`` traced on a sample input and frozen (any batch size and sequence length runs); ``model``
    itself when tracing fails."""
    sample_ids = torch.full((2, 8), 101, dtype=torch.long)
    sample_mask = torch.ones_like(sample_ids)
    sample_mask[1, 5:] = 0
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, (sample_ids, sample_mask), check_trace=False, strict=False)
            return torch.jit.freeze(traced.eval())
    except Exception as error:  # noqa: BLE001 - an unusual build of torch: run eagerly
        logger.info("TorchScript freezing failed (%s); running the network eagerly", error)
        return model


def quantize_int8(model: JointModel) -> nn.Module:
    """A copy of ``model`` with int8 weights and dynamically quantized activations in its linear layers."""
    import copy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


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

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> JointArrays:
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return JointArrays(*self.session.run(OUTPUT_NAMES, feeds))


def export_onnx(model: JointModel, folder: str | Path, quantize: bool = False) -> Path:
    """Write ``model.onnx`` (dynamic batch and sequence axes) into ``folder``; with ``quantize`` also
    ``model.int8.onnx`` (ONNX Runtime dynamic int8 quantization). Returns the fp32 file."""
    folder = Path(folder)
    path = folder / ONNX_FILE
    wrapper = OnnxWrapper(model.eval()).eval()
    ids = torch.tensor([[101, 2073, 2003, 2026, 2344, 102]], dtype=torch.long)
    mask = torch.ones_like(ids)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    for name in OUTPUT_NAMES:
        axes[name] = {0: "batch"} if name in ("pooled", "intent_logits", "sentiment_logits") else {0: "batch", 1: "seq"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=OUTPUT_NAMES,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    if quantize:
        quantize_onnx(path, folder / ONNX_INT8_FILE)
    return path


def quantize_onnx(source: Path, target: Path) -> Path:
    """ONNX Runtime's dynamic int8 quantization of ``source`` into ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target
