"""``kefu train nlu`` and ``kefu test nlu``: glue between the bot's loaders and the ``nlu`` package.

``kefu train nlu --config config.yml --data data --out models --seed 42 [--fixed-model-name NAME]
[--quantize int8] [--export onnx]`` trains the NLU pipeline into ``models/nlu-<YYYYmmdd-HHMMSS>/``.

``kefu test nlu --nlu data/nlu.yml -m models --out results [--cross-validation --folds 5] [--successes]``
writes Rasa's report layout into ``results/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from bot.errors import KefuError

logger = logging.getLogger(__name__)

PIPELINE_FILE = "pipeline.json"  # nlu.constants.PIPELINE_FILE (not imported: keeps `kefu --help` fast)


class ModelNotFound(KefuError):
    """``-m`` names neither an NLU model nor a folder holding one."""


# ===================================================================== train
def add_train_nlu_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default="config.yml", help="model configuration (its pipeline: section)")
    parser.add_argument("--data", "-d", nargs="+", default=["data"], help="NLU training files or folders")
    parser.add_argument("--out", default="models", help="folder the model folder is created in")
    parser.add_argument("--seed", type=int, default=42, help="seed: same seed and data give the same model")
    parser.add_argument("--fixed-model-name", default=None, help="name of the model folder instead of nlu-<timestamp>")
    parser.add_argument("--quantize", choices=["int8"], default=None, help="run the transformer with int8 weights")
    parser.add_argument("--export", choices=["onnx"], default=None, help="export the transformer and run it with ONNX Runtime")
    parser.add_argument("--validation-fraction", type=float, default=None, help="share of each intent held out for early stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def model_folder(out: str | Path, fixed_name: str | None) -> Path:
    """``out/<fixed_name>`` (a ``.tar.gz`` suffix is dropped) or ``out/nlu-<YYYYmmdd-HHMMSS>``."""
    if fixed_name:
        name = fixed_name.removesuffix(".tar.gz").removesuffix(".tgz")
        return Path(out) / name
    return Path(out) / time.strftime("nlu-%Y%m%d-%H%M%S")


def run_train_nlu(args: argparse.Namespace) -> int:
    from bot.loaders.config_loader import load_config
    from bot.loaders.training_files import load_nlu_data
    from nlu.backend_check import backend_delta
    from nlu.pipeline import NLUPipeline

    config = load_config(args.config)
    data = load_nlu_data(args.data)
    if not data.examples:
        raise KefuError(f"no NLU examples found in {' '.join(args.data)}")
    pipeline = NLUPipeline.from_config(config.pipeline, config.language)
    classifier = pipeline.classifier
    if classifier is not None:
        if args.quantize:
            classifier.quantize = args.quantize
        if args.export:
            classifier.export = args.export
    started = time.perf_counter()
    pipeline.train(data, seed=args.seed, progress=not args.no_progress, validation_fraction=args.validation_fraction)
    elapsed = time.perf_counter() - started
    target = model_folder(args.out, args.fixed_model_name)
    pipeline.save(target)
    if classifier is not None and classifier.backend_name() != "torch":
        delta = backend_delta(target, classifier.validation_examples, classifier.backend_name())
        pipeline.manifest["backend_check"] = delta
        (target / "manifest.json").write_text(json.dumps(pipeline.manifest, indent=1, default=str), encoding="utf-8")
        if "accuracy_delta" in delta:
            print(
                f"{delta['backend']}: validation accuracy {delta['accuracy_' + delta['backend']]:.4f} "
                f"vs fp32 {delta['accuracy_fp32']:.4f} (delta {delta['accuracy_delta']:+.4f}, "
                f"agreement {delta['agreement_with_fp32']:.4f}, {delta['examples']} examples)"
            )
    intents = len(pipeline.manifest.get("labels", {}).get("intents", []))
    print(f"NLU model trained in {elapsed:.1f}s ({len(data.examples)} examples, {intents} intents) → {target}")
    return 0


# ===================================================================== test
def add_test_nlu_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nlu", "-u", nargs="+", default=["data"], help="NLU test files or folders")
    parser.add_argument("--model", "-m", default="models", help="an NLU model folder, or a folder of models (newest wins)")
    parser.add_argument("--out", default="results", help="folder for the reports")
    parser.add_argument("--successes", action="store_true", help="also write intent_successes.json")
    parser.add_argument("--cross-validation", action="store_true", help="train and test on N folds of --nlu instead")
    parser.add_argument("--folds", "-f", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--config", "-c", default="config.yml", help="configuration for cross-validation")
    parser.add_argument("--seed", type=int, default=42, help="seed for cross-validation folds and training")


def _nlu_dir(folder: Path) -> Path | None:
    for candidate in (folder, folder / "nlu"):
        if (candidate / PIPELINE_FILE).is_file():
            return candidate
    return None


def resolve_model(path: str | Path) -> Path:
    """The NLU model folder ``path`` names: itself, its ``nlu/`` part, or the newest model inside it."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFound(f"{path}: no such model or folder (train one with 'kefu train nlu')")
    if path.is_file():
        raise ModelNotFound(f"{path}: Kefu NLU models are folders (pass the folder, or the models/ folder)")
    direct = _nlu_dir(path)
    if direct is not None:
        return direct
    found = [(sub, _nlu_dir(sub)) for sub in path.iterdir() if sub.is_dir()]
    models = [(sub, nlu) for sub, nlu in found if nlu is not None]
    if not models:
        raise ModelNotFound(f"{path}: no NLU model in it (train one with 'kefu train nlu')")
    models.sort(key=lambda item: ((item[1] / PIPELINE_FILE).stat().st_mtime, item[0].name))
    return models[-1][1]


def _print_summary(summary: object, out: Path) -> None:
    acc = getattr(summary, "intent_accuracy", 0.0)
    f1 = getattr(summary, "intent_macro_f1", 0.0)
    n = getattr(summary, "examples", 0)
    print(f"intent accuracy {acc:.4f}, macro F1 {f1:.4f} on {n} examples")
    for extractor, score in (getattr(summary, "entity_f1", {}) or {}).items():
        print(f"entities ({extractor}): weighted F1 {score:.4f}")
    sentiment = getattr(summary, "sentiment_macro_f1", None)
    if sentiment is not None:
        vader = getattr(summary, "vader_macro_f1_3class", None)
        print(f"sentiment macro F1 {sentiment:.4f} (VADER, 3 classes: {vader:.4f})")
    print(f"reports written to {out}/")


def run_test_nlu(args: argparse.Namespace) -> int:
    from bot.loaders.training_files import load_nlu_data

    data = load_nlu_data(args.nlu)
    if not data.examples:
        raise KefuError(f"no NLU examples found in {' '.join(args.nlu)}")
    out = Path(args.out)
    if args.cross_validation:
        from bot.loaders.config_loader import load_config
        from nlu.cross_validation import cross_validate

        config = load_config(args.config)
        summary, folds = cross_validate(
            config.pipeline, config.language, data, args.folds, out, seed=args.seed, successes=args.successes
        )
        acc = folds["accuracy"]
        print(f"{args.folds}-fold cross-validation: accuracy {acc['mean']:.4f} ± {acc['std']:.4f}")
        _print_summary(summary, out)
        return 0
    from nlu.evaluation import evaluate
    from nlu.pipeline import NLUPipeline

    folder = resolve_model(args.model)
    logger.info("testing NLU model %s", folder)
    pipeline = NLUPipeline.load(folder)
    results = pipeline.parse_batch([e.text for e in data.examples])
    summary = evaluate(data.examples, results, out, successes=args.successes)
    _print_summary(summary, out)
    return 0
