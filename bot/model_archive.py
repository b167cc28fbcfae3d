"""Trained models on disk: ``kefu train`` writes one folder under ``models/`` holding everything.

Layout of ``models/<YYYYmmdd-HHMMSS>/`` (a ``.tar.gz`` of such a folder loads too)::

    metadata.json     model id, when, Kefu version, assistant id, which parts were retrained
    fingerprint.json  hashes of what each part was trained from
    domain.yml        the domain (Rasa's format)
    nlu/              the NLU pipeline (``nlu.NLUPipeline.save``)
    core/             the dialogue policies (``policies.PolicyEnsemble.save``); ``core/rl/`` the report of a
                      KefuMLPolicy's reinforcement-learning stage, when config.yml asks for one

A part whose inputs did not change since the latest model is copied instead of retrained (Rasa's
fingerprinting); when nothing changed no new model is written at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.agent import Agent
from bot.domain import Domain
from bot.errors import KefuError
from bot.nlg import TemplatedNLG

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
FINGERPRINT_FILE = "fingerprint.json"
DOMAIN_FILE = "domain.yml"
NLU_DIR = "nlu"
CORE_DIR = "core"
PARTS = ("nlu", "core")
MODEL_FORMAT = 1


class ModelError(KefuError):
    """A model cannot be found, read or written."""


def _kefu_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kefu")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def _plain(value: Any) -> Any:
    """JSON-ready data without source positions (moving a line must not retrain a model)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("source", "synonym_sources")}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def plain_json(value: Any) -> Any:
    """``value`` with str/dict/list subclasses (positions from the YAML reader) turned into plain ones."""
    return json.loads(json.dumps(value, default=str))


def _digest(*parts: Any) -> str:
    text = json.dumps([_plain(p) for p in parts], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(project: Any) -> dict[str, str]:
    """What each part of a model depends on, hashed (``project`` is a :class:`bot.project.Project`)."""
    domain = project.domain.as_dict()
    config = project.config
    nlu_domain = {"intents": domain.get("intents"), "entities": domain.get("entities")}
    return {
        "nlu": _digest("nlu", config.language, config.pipeline, project.training.nlu, nlu_domain),
        "core": _digest("core", config.policies, project.training.stories, domain, _rl_inputs(config.policies)),
        "domain": _digest(domain),
        "kefu": _kefu_version(),
    }


RL_INPUT_FILES = ("simulator.yml", "endpoints.yml")
RL_INPUT_PACKAGE = "actions"


def _rl_inputs(policies: Any) -> list[str]:
    """What a reinforcement-learning stage also learns from (the simulated shoppers, the handoff settings and
    the project's actions, read from the working directory); nothing without one."""
    if not any(isinstance(p, dict) and p.get("rl") for p in policies or []):
        return []
    files = [Path(name) for name in RL_INPUT_FILES] + sorted(Path(RL_INPUT_PACKAGE).rglob("*.py"))
    return [f"{f}:{hashlib.sha256(f.read_bytes()).hexdigest()}" for f in files if f.is_file()]


@dataclass
class TrainResult:
    """What ``train_model`` did."""

    path: Path
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    unchanged: bool = False


def find_models(root: str | Path) -> list[Path]:
    """Model folders and archives in ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir()
             if (p.is_dir() and (p / METADATA_FILE).exists()) or p.name.endswith(".tar.gz")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _default_nlu_trainer(project: Any, target: Path, seed: int) -> None:
    from nlu import NLUPipeline

    pipeline = NLUPipeline.from_config(project.config.pipeline, project.config.language)
    pipeline.train(project.training.nlu, seed=seed)
    pipeline.save(target)


def _default_core_trainer(project: Any, target: Path, seed: int) -> None:
    from policies import PolicyEnsemble

    ensemble = PolicyEnsemble.from_config(project.config.policies, project.domain, seed=seed)
    ensemble.learn(project.training.stories, project.domain)
    for policy in ensemble.policies:
        if getattr(policy, "rl", None):  # KefuMLPolicy's reinforcement-learning stage (simulator.rl_stage)
            from simulator.rl_stage import RL_REPORT_DIR, reinforce

            logger.info("training core: %s in the simulator (rl: %s) ...", policy.name, policy.rl)
            reinforce(policy, project, target / RL_REPORT_DIR)  # core/rl/: the run's report and curve
    ensemble.save(target)


PartTrainer = Callable[[Any, Path, int], None]


def train_model(
    project: Any,
    out: str | Path = "models",
    *,
    parts: tuple[str, ...] = PARTS,
    fixed_model_name: str | None = None,
    force: bool = False,
    seed: int = 42,
    trainers: dict[str, PartTrainer] | None = None,
) -> TrainResult:
    """Train (or reuse) each part and write one model folder under ``out``.

    :param project: the loaded project (its errors must have been checked)
    :param parts: which parts to (re)train; the others are taken from the latest model if possible
    :param fixed_model_name: folder name instead of a timestamp
    :param force: retrain even unchanged parts
    :param trainers: part name → function(project, target_dir, seed) (tests; default: the real ones)
    """
    # Rasa: "No NLU data present. Just a Rasa Core model will be trained." (a test's own trainer still runs)
    no_nlu_data = not project.training.nlu.examples and "nlu" not in (trainers or {})
    trainers = {"nlu": _default_nlu_trainer, "core": _default_core_trainer, **(trainers or {})}
    out = Path(out)
    new_fp = fingerprint(project)
    previous = next((p for p in find_models(out) if p.is_dir()), None)
    old_fp = read_json(previous / FINGERPRINT_FILE) if previous else {}

    def reusable(part: str) -> bool:
        sub = previous / (NLU_DIR if part == "nlu" else CORE_DIR) if previous else None
        return (not force and sub is not None and sub.is_dir() and old_fp.get(part) == new_fp[part]
                and old_fp.get("kefu") == new_fp["kefu"])

    if previous is not None and not fixed_model_name and not any(p in parts and not reusable(p) for p in PARTS):
        return TrainResult(previous, reused=list(PARTS), unchanged=True)

    name = fixed_model_name or time.strftime("%Y%m%d-%H%M%S")
    target = out / name
    if target.exists() and fixed_model_name is None:
        target = out / f"{name}-{int(time.time() * 1000) % 1000:03d}"
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=out))
    result = TrainResult(target)
    fp = dict(new_fp)
    try:
        for part in PARTS:
            name_of_dir = NLU_DIR if part == "nlu" else CORE_DIR
            before = previous / name_of_dir if previous else None
            if reusable(part):
                shutil.copytree(before, staging / name_of_dir)  # type: ignore[arg-type]
                result.reused.append(part)
            elif part == "nlu" and part in parts and no_nlu_data:
                logger.warning("no NLU training examples: only the dialogue model is trained"
                               " (the bot understands /intent payloads only)")
            elif part in parts:
                logger.info("training %s ...", part)
                trainers[part](project, staging / name_of_dir, seed)
                result.trained.append(part)
            elif before is not None and before.is_dir():  # not asked for: keep the previous one as it is
                shutil.copytree(before, staging / name_of_dir)
                fp[part] = old_fp.get(part, "")
                result.reused.append(part)
        (staging / DOMAIN_FILE).write_text(
            yaml.safe_dump(plain_json(project.domain.as_dict()), sort_keys=False, allow_unicode=True), encoding="utf-8")
        (staging / FINGERPRINT_FILE).write_text(json.dumps(fp, indent=2), encoding="utf-8")
        metadata = {
            "model_id": hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16],
            "trained_at": time.time(),
            "kefu_version": _kefu_version(),
            "format": MODEL_FORMAT,
            "assistant_id": getattr(project.config, "assistant_id", None),
            "trained": result.trained,
            "reused": result.reused,
            "seed": seed,
        }
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return result


def resolve_model_path(path: str | Path) -> Path:
    """A model folder or archive from ``-m``: a model itself, or the newest model in a folder of models."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no model at '{path}' (train one with 'kefu train')")
    if path.is_file() or (path / METADATA_FILE).exists():
        return path
    models = find_models(path)
    if not models:
        raise ModelError(f"'{path}' holds no trained model (train one with 'kefu train')")
    return models[0]


def _extract(archive: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="kefu-model-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"'{archive}' is not a readable model archive: {exc}") from exc
    inner = [p for p in target.iterdir() if p.is_dir() and (p / METADATA_FILE).exists()]
    return inner[0] if not (target / METADATA_FILE).exists() and inner else target


def load_model(path: str | Path, seed: int | None = None, load_nlu: bool = True) -> Agent:
    """Load a model written by :func:`train_model` into an :class:`Agent`."""
    path = resolve_model_path(path)
    folder = _extract(path) if path.is_file() else path
    metadata = read_json(folder / METADATA_FILE)
    if not metadata:
        raise ModelError(f"'{path}' is not a Kefu model (no {METADATA_FILE})")
    try:
        domain = Domain.from_dict(yaml.safe_load((folder / DOMAIN_FILE).read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"'{path}': cannot read {DOMAIN_FILE}: {exc}") from exc
    policy = None
    if (folder / CORE_DIR).is_dir():
        from policies import PolicyEnsemble

        policy = PolicyEnsemble.load(folder / CORE_DIR)
    interpreter = None
    if load_nlu and (folder / NLU_DIR).is_dir():
        from nlu import NLUPipeline

        interpreter = NLUPipeline.load(folder / NLU_DIR)
    return Agent(domain=domain, policy=policy, interpreter=interpreter, nlg=TemplatedNLG(domain.responses, seed=seed),
                 model_path=str(path), model_id=metadata.get("model_id"), metadata=metadata)


def pack_model(folder: str | Path, archive: str | Path | None = None) -> Path:
    """Write ``folder`` as a ``.tar.gz`` (Rasa's single-file model)."""
    folder = Path(folder)
    archive = Path(archive) if archive else folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive
