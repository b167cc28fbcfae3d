"""Rasa parity: Rasa 3.6 and Kefu side by side on the same public Rasa 3.x assistants, same machine.

For each assistant of the parity corpus (``tests/fixtures/rasa_parity/*`` with a SOURCE.txt each, plus
``../shared/data/rasa_helpdesk_assistant`` and ``rasa init``'s project from ``../shared``), both tools run
on one working copy whose NLU data keeps a seeded 80 % per intent for training (the other 20 % is the
held-out ``test nlu`` set; intents with fewer than 3 examples stay whole):

1. ``data validate``: verdict (exit code) and the kinds of problems reported;
2. ``train``: wall time and success;
3. ``test nlu`` on the held-out part: intent accuracy and entity F1 (weighted, as in Rasa's reports);
4. ``test core`` on the assistant's test stories: conversation accuracy and action F1 (weighted);
5. the REST webhook (``run``) answering the same held-out messages: throughput (8 concurrent shoppers,
   one new conversation per message) and how often Kefu's reply equals Rasa's.

Rasa is a measuring instrument, never a dependency: install it with
``bash ../shared/tools/rasa_peer/install.sh DIR`` and pass ``--rasa DIR/bin/rasa``.

Run from the repo root::

    .venv/bin/python benchmarks/rasa_parity.py --rasa ~/rasa-venv/bin/rasa            # everything
    .venv/bin/python benchmarks/rasa_parity.py --tools kefu --assistants formbot      # one side, one bot

Each (assistant, tool) result is kept in ``benchmarks/results/rasa_parity.json`` and later runs update
it, so the two sides can be rerun separately; the Markdown table (``rasa_parity.md``) is rebuilt from
the JSON every time. Work files go to ``--work`` (default ``/tmp/kefu_parity``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = ROOT / "tests" / "fixtures" / "rasa_parity"
RESULTS = ROOT / "benchmarks" / "results"
KEFU = ROOT / ".venv" / "bin" / "kefu"
HELD_OUT_FRACTION = 0.2
REST_CONCURRENCY = 8
REST_MESSAGES = 120
STEP_TIMEOUT_S = 1800
console = Console()


@dataclass
class Assistant:
    """One Rasa project of the corpus: where it is and where its test stories are."""

    name: str
    root: Path
    tests: Path | None

    @property
    def source(self) -> str:
        source = self.root / "SOURCE.txt"
        text = source.read_text(encoding="utf-8") if source.is_file() else ""
        url = re.search(r"https?://\S+", text)
        return url.group(0) if url else str(self.root)


def corpus() -> list[Assistant]:
    """Every complete assistant (domain, config and data present) of the parity corpus."""
    found = [
        Assistant("rasa_init", SHARED / "data" / "rasa_reference" / "rasa" / "cli" / "initial_project", None),
        Assistant("helpdesk", SHARED / "data" / "rasa_helpdesk_assistant", None),
    ]
    if CORPUS.is_dir():
        found += [Assistant(p.name, p, None) for p in sorted(CORPUS.iterdir()) if p.is_dir()]
    complete = []
    for assistant in found:
        if all((assistant.root / part).exists() for part in ("domain.yml", "config.yml", "data")):
            tests = assistant.root / "tests"
            assistant.tests = tests if tests.is_dir() and any(tests.glob("*.yml")) else None
            complete.append(assistant)
    return complete


# ------------------------------------------------------------------------------------------ held-out split
def _example_lines(examples: Any) -> list[str]:
    if isinstance(examples, str):
        return [line.strip()[2:] for line in examples.splitlines() if line.strip().startswith("- ")]
    return [str(item.get("text")) for item in examples or [] if isinstance(item, dict) and item.get("text")]


def split_nlu(source: Path, work: Path, seed: int = 0) -> int:
    """Copy the project to ``work``; move a seeded 20 % of each intent's examples to ``work/heldout_nlu.yml``.

    Returns the number of held-out examples. Synonyms, regexes, lookups and responses stay untouched.
    """
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("models", "results", ".rasa", "__pycache__"))
    for path in work.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    rng = random.Random(seed)
    held_out: dict[str, list[str]] = {}
    for path in sorted((work / "data").rglob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("nlu"), list):
            continue
        changed = False
        for item in doc["nlu"]:
            if not isinstance(item, dict) or "intent" not in item:
                continue
            lines = _example_lines(item.get("examples"))
            n_test = int(len(lines) * HELD_OUT_FRACTION) if len(lines) >= 3 else 0
            if n_test == 0 and len(lines) >= 3:
                n_test = 1
            if not n_test:
                continue
            picked = set(rng.sample(range(len(lines)), n_test))
            held_out.setdefault(str(item["intent"]), []).extend(lines[i] for i in sorted(picked))
            item["examples"] = "".join(f"- {line}\n" for i, line in enumerate(lines) if i not in picked)
            changed = True
        if changed:
            path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=10_000), encoding="utf-8")
    heldout = {"version": "3.1", "nlu": [{"intent": intent, "examples": "".join(f"- {x}\n" for x in lines)}
                                         for intent, lines in held_out.items()]}
    (work / "heldout_nlu.yml").write_text(yaml.safe_dump(heldout, allow_unicode=True, sort_keys=False, width=10_000),
                                          encoding="utf-8")
    return sum(len(v) for v in held_out.values())


_ANNOTATION = re.compile(r"\[([^\]]*)\](\([^)]*\)|\{[^}]*\})")


def plain_text(example: str) -> str:
    """``where is [A123](order_id)`` -> ``where is A123``."""
    return _ANNOTATION.sub(lambda m: m.group(1), example)


# ------------------------------------------------------------------------------------------ running tools
@dataclass
class Tool:
    """How to call one tool's CLI on a project."""

    name: str
    command: list[str]
    env: dict[str, str]

    def run(self, args: list[str], cwd: Path, log: Path) -> tuple[int, float, str]:
        started = time.perf_counter()
        with log.open("w", encoding="utf-8") as out:
            try:
                proc = subprocess.run(self.command + args, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=STEP_TIMEOUT_S, check=False)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = 124
        return code, time.perf_counter() - started, log.read_text(encoding="utf-8", errors="replace")


def make_tools(rasa: str | None) -> dict[str, Tool]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "default"}
    tools = {"kefu": Tool("kefu", [str(KEFU)], env)}
    if rasa:
        tools["rasa"] = Tool("rasa", [rasa], env)
    return tools


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def problem_kinds(tool: str, output: str) -> dict[str, int]:
    """Problems a validate run reported, grouped by their message with names blanked out."""
    kinds: Counter[str] = Counter()
    for line in output.splitlines():
        if tool == "kefu":
            match = re.match(r"^\S+:\d+:\d+: (error|warning): (.*)$", line) or re.match(r"^\S+: (error|warning): (.*)$", line)
            if match:
                kinds[f"{match.group(1)}: {_QUOTED.sub('…', match.group(2))[:90]}"] += 1
        else:
            match = re.search(r"UserWarning: (.*)$", line) or re.search(r"\b(?:ERROR|error)\b.*?- (.*)$", line)
            if match:
                severity = "warning" if "UserWarning" in line else "error"
                kinds[f"{severity}: {_QUOTED.sub('…', match.group(1))[:90]}"] += 1
    return dict(kinds.most_common())


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def entity_f1(folder: Path) -> float | None:
    """Weighted entity F1 from the entity extractors' reports (the best extractor when several)."""
    scores = []
    for report in folder.glob("*_report.json"):
        if report.name.startswith(("intent", "response_selection", "sentiment", "story")) or "role_group" in report.name:
            continue
        data = read_json(report)
        avg = data.get("weighted avg") or data.get("micro avg") or {}
        if isinstance(avg, dict) and avg.get("support"):
            scores.append(float(avg.get("f1-score", 0.0)))
    return max(scores) if scores else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _rest_round(port: int, texts: list[str]) -> tuple[float, list[list[str]], int]:
    import aiohttp

    replies: list[list[str]] = [[] for _ in texts]
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(texts)):
        queue.put_nowait(i)

    async def shopper(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            try:
                async with session.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                                        json={"sender": f"parity-{i}", "message": texts[i]}) as response:
                    body = await response.json(content_type=None) if response.status == 200 else []
                    errors += response.status != 200
            except (TimeoutError, aiohttp.ClientError, ValueError):
                body, errors = [], errors + 1
            replies[i] = [str(m.get("text")) for m in body or [] if isinstance(m, dict) and m.get("text")]

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(shopper(session) for _ in range(REST_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return len(texts) / elapsed, replies, errors


def rest_check(tool: Tool, work: Path, model: Path, texts: list[str], log: Path) -> dict[str, Any]:
    """Serve the model, wait until it answers, send ``texts``; throughput and the replies."""
    port = free_port()
    credentials = work / "parity_credentials.yml"
    credentials.write_text("rest: {}\n")
    args = ["run", "-m", str(model), "-p", str(port), "-i", "127.0.0.1", "--credentials", str(credentials),
            "--enable-api"]
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(tool.command + args, cwd=work, env=tool.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    started = time.perf_counter()
    try:
        ready = False
        while time.perf_counter() - started < 300 and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    ready = True
                    break
            except OSError:
                time.sleep(0.5)
        if not ready:
            return {"ok": False, "error": "server did not start", "log": str(log)}
        startup = time.perf_counter() - started
        asyncio.run(_rest_round(port, texts[: min(8, len(texts))]))  # warm-up
        rate, replies, errors = asyncio.run(_rest_round(port, texts))
        return {"ok": True, "startup_s": round(startup, 1), "messages": len(texts), "msg_per_s": round(rate, 1),
                "errors": errors, "replies": replies}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def substitute_default_pipeline(config: Path) -> None:
    """Replace ``config``'s pipeline by the one ``rasa init`` writes (policies stay as they are)."""
    default = yaml.safe_load((SHARED / "data" / "rasa_reference" / "rasa" / "cli" / "initial_project" / "config.yml")
                             .read_text(encoding="utf-8")) or {}
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    data["pipeline"] = default.get("pipeline") or [
        {"name": "WhitespaceTokenizer"}, {"name": "RegexFeaturizer"}, {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True}, {"name": "EntitySynonymMapper"},
        {"name": "ResponseSelector", "epochs": 100, "constrain_similarities": True},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1}]
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def measure(tool: Tool, assistant: Assistant, work_root: Path, seed: int, rest: bool) -> dict[str, Any]:
    """Every step for one (assistant, tool) pair."""
    work = work_root / tool.name / assistant.name
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    held_out = split_nlu(assistant.root, work, seed)
    logs = work / "logs"
    logs.mkdir()
    result: dict[str, Any] = {"held_out_nlu_examples": held_out}

    code, seconds, output = tool.run(["data", "validate", "--domain", "domain.yml", "--data", "data",
                                      "--config", "config.yml"], work, logs / "validate.log")
    result["validate"] = {"passed": code == 0, "exit_code": code, "seconds": round(seconds, 1),
                          "problems": problem_kinds(tool.name, output)}

    model_dir = work / "models"
    code, seconds, _ = tool.run(["train", "--domain", "domain.yml", "--data", "data", "--config", "config.yml",
                                 "--out", str(model_dir), "--fixed-model-name", "parity"], work, logs / "train.log")
    models = sorted(model_dir.glob("parity*")) if model_dir.is_dir() else []
    result["train"] = {"ok": code == 0 and bool(models), "exit_code": code, "seconds": round(seconds, 1)}
    missing = re.search(r"requires the following packages which are currently not installed: ([\w, -]+)",
                        (logs / "train.log").read_text(encoding="utf-8", errors="replace"))
    if tool.name == "rasa" and not models and missing:
        # spaCy's English models and Hugging Face weights cannot be installed on a machine without internet:
        # measure Rasa with its default pipeline instead, and say so.
        result["train_with_own_pipeline"] = {"ok": False, "exit_code": code, "needs": missing.group(1).strip()}
        substitute_default_pipeline(work / "config.yml")
        code, seconds, _ = tool.run(["train", "--domain", "domain.yml", "--data", "data", "--config", "config.yml",
                                     "--out", str(model_dir), "--fixed-model-name", "parity"], work, logs / "train.log")
        models = sorted(model_dir.glob("parity*")) if model_dir.is_dir() else []
        result["train"] = {"ok": code == 0 and bool(models), "exit_code": code, "seconds": round(seconds, 1),
                           "pipeline": "Rasa's default (rasa init), its own needs " + missing.group(1).strip()}
    if not result["train"]["ok"]:
        return result
    model = models[0]

    if held_out:
        out = work / "results_nlu"
        code, seconds, _ = tool.run(["test", "nlu", "--nlu", "heldout_nlu.yml", "--model", str(model), "--out", str(out)],
                                    work, logs / "test_nlu.log")
        intent = read_json(out / "intent_report.json")
        result["test_nlu"] = {"ok": code == 0 and bool(intent), "seconds": round(seconds, 1),
                              "intent_accuracy": intent.get("accuracy"), "entity_f1": entity_f1(out)}

    if assistant.tests is not None:
        out = work / "results_core"
        code, seconds, _ = tool.run(["test", "core", "--stories", str(work / "tests"), "--model", str(model),
                                     "--out", str(out)], work, logs / "test_core.log")
        report = read_json(out / "story_report.json")
        conversations = report.get("conversation_accuracy") or {}
        result["test_core"] = {"ok": code == 0 and bool(report), "seconds": round(seconds, 1),
                               "conversation_accuracy": conversations.get("accuracy"),
                               "conversations": conversations.get("total"),
                               "action_f1": (report.get("weighted avg") or {}).get("f1-score")}

    if rest:
        heldout = yaml.safe_load((work / "heldout_nlu.yml").read_text(encoding="utf-8")) or {}
        texts = [plain_text(x) for item in heldout.get("nlu") or [] for x in _example_lines(item.get("examples"))]
        if not texts:
            texts = ["hello", "hi", "bye", "thanks"]
        texts = (texts * (REST_MESSAGES // len(texts) + 1))[:REST_MESSAGES]
        result["rest"] = rest_check(tool, work, model, texts, logs / "run.log")
    return result


# ------------------------------------------------------------------------------------------ report
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def reply_agreement(rasa: dict[str, Any], kefu: dict[str, Any]) -> float | None:
    a, b = (rasa.get("rest") or {}).get("replies"), (kefu.get("rest") or {}).get("replies")
    if not a or not b or len(a) != len(b):
        return None
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The acceptance figures over assistants where both tools ran."""
    rows = results["assistants"]
    both = {n: r for n, r in rows.items() if "rasa" in r and "kefu" in r}
    verdicts_equal = [n for n, r in both.items() if r["rasa"]["validate"]["passed"] == r["kefu"]["validate"]["passed"]]
    rasa_trained = [n for n, r in both.items() if r["rasa"]["train"]["ok"] and not r["rasa"]["train"].get("pipeline")]
    kefu_trained = [n for n in rasa_trained if both[n]["kefu"]["train"]["ok"]]
    substituted = [n for n, r in both.items() if r["rasa"]["train"].get("pipeline")]

    def pairs(step: str, key: str) -> list[tuple[str, float, float]]:
        out = []
        for n, r in both.items():
            a, b = (r["rasa"].get(step) or {}).get(key), (r["kefu"].get(step) or {}).get(key)
            if a is not None and b is not None:
                out.append((n, float(a), float(b)))
        return out

    core, nlu = pairs("test_core", "conversation_accuracy"), pairs("test_nlu", "intent_accuracy")
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "assistants_compared": len(both),
        "validate_verdict_equal": f"{len(verdicts_equal)}/{len(both)}",
        "validate_verdict_differs": sorted(set(both) - set(verdicts_equal)),
        "rasa_trains_with_own_pipeline": len(rasa_trained), "kefu_trains_of_those": len(kefu_trained),
        "rasa_measured_with_default_pipeline": substituted,
        "kefu_trains": sum(r["kefu"]["train"]["ok"] for r in both.values()),
        "train_seconds_total": {tool: round(sum(r[tool]["train"]["seconds"] for r in both.values()), 1)
                                for tool in ("rasa", "kefu")},
        "rest_msg_per_s_mean": {tool: mean([r[tool]["rest"]["msg_per_s"] for r in both.values()
                                            if (r[tool].get("rest") or {}).get("ok")]) for tool in ("rasa", "kefu")},
        "core_conversation_accuracy_mean": {"rasa": mean([a for _, a, _ in core]), "kefu": mean([b for _, _, b in core])},
        "core_kefu_below_rasa": [n for n, a, b in core if b < a],
        "nlu_intent_accuracy_mean": {"rasa": mean([a for _, a, _ in nlu]), "kefu": mean([b for _, _, b in nlu])},
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Rasa 3.6.21 and Kefu on the same assistants",
        "",
        f"Machine: {results['machine']['cpu_cores']} cores, {results['machine']['processor']}; "
        f"updated {results['updated']}. Held-out NLU: seeded {int(HELD_OUT_FRACTION * 100)} % of each intent "
        "(both tools train on the rest). REST: the held-out messages, "
        f"{REST_CONCURRENCY} concurrent shoppers, one conversation per message.",
        "",
        "| assistant | tool | validate | problems | train s | intent acc | entity F1 | conv. acc | action F1 |"
        " REST msg/s | same reply |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in sorted(results["assistants"].items()):
        for tool in ("rasa", "kefu"):
            r = row.get(tool)
            if not r:
                continue
            problems = r["validate"]["problems"]
            errors = sum(v for k, v in problems.items() if k.startswith("error"))
            warnings = sum(v for k, v in problems.items() if k.startswith("warning"))
            train = r["train"]
            nlu, core, rest = r.get("test_nlu") or {}, r.get("test_core") or {}, r.get("rest") or {}
            agree = reply_agreement(row.get("rasa") or {}, r) if tool == "kefu" else None
            core_acc = core.get("conversation_accuracy")
            conv = f"{_fmt(core_acc)} ({core.get('conversations')})" if core_acc is not None else "–"
            if train.get("pipeline"):
                tool = f"{tool}*"
            lines.append(
                f"| {name} | {tool} | {_fmt(r['validate']['passed'])} | {errors} err, {warnings} warn | "
                f"{_fmt(train['seconds']) if train['ok'] else 'FAIL'} | {_fmt(nlu.get('intent_accuracy'))} | "
                f"{_fmt(nlu.get('entity_f1'))} | {conv} | {_fmt(core.get('action_f1'))} | "
                f"{_fmt(rest.get('msg_per_s'), 1) if rest.get('ok') else '–'} | {_fmt(agree, 2)} |"
            )
    lines += ["", "`rasa*`: Rasa could not build the assistant's own pipeline on this machine (it needs spaCy's English "
              "model or Hugging Face weights, which cannot be installed without internet), so Rasa was measured with "
              "its default pipeline (`rasa init`'s); Kefu trained the assistant's own config (its components mapped "
              "to Kefu's encoder). Problems: what `data validate` printed, errors and warnings. Conv. acc: share of "
              "test stories with every action right (number of test stories). Same reply: share of the held-out "
              "messages that got the same reply texts from both (responses with several variations are picked at "
              "random by both, so this is a lower bound; where the two NLU models read a message differently the "
              "replies differ too). REST: no action server runs, so replies that call a custom action fail in "
              "both; Kefu retries a refused connection (`connect_retries`, `retry_delay` in endpoints.yml) where "
              "Rasa gives up at once, which makes such assistants (reminderbot) slower in Kefu here.", ""]
    s = results.get("summary") or {}
    lines += ["## Summary", "", "```json", json.dumps(s, indent=2), "```", ""]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {"cpu_cores": len(os.sched_getaffinity(0)), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rasa", default=os.environ.get("RASA_BIN"), help="the rasa executable (Rasa 3.6.21 venv)")
    parser.add_argument("--tools", default="rasa,kefu", help="which sides to run (comma-separated)")
    parser.add_argument("--assistants", default="", help="only these assistants (comma-separated names)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kefu_parity"), help="working copies and models")
    parser.add_argument("--out", type=Path, default=RESULTS / "rasa_parity.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rest", action="store_true", help="skip the REST webhook step")
    parser.add_argument("--list", action="store_true", help="list the corpus and exit")
    parser.add_argument("--report-only", action="store_true", help="rebuild the Markdown table from the JSON")
    args = parser.parse_args(argv)

    assistants = corpus()
    if args.assistants:
        wanted = set(args.assistants.split(","))
        assistants = [a for a in assistants if a.name in wanted]
    if args.list:
        for a in assistants:
            console.print(f"{a.name:24} tests={'yes' if a.tests else 'no ':3}  {a.source}")
        return 0
    if args.report_only:
        results = read_json(args.out)
        results["summary"] = summary(results)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
        args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
        console.print(markdown(results))
        return 0
    tools = make_tools(args.rasa)
    wanted_tools = [t for t in args.tools.split(",") if t]
    missing = [t for t in wanted_tools if t not in tools]
    if missing:
        console.print(f"[red]no executable for {', '.join(missing)}[/red] (Rasa: --rasa DIR/bin/rasa, "
                      "installed with ../shared/tools/rasa_peer/install.sh DIR)")
        return 2

    results = read_json(args.out) or {"assistants": {}}
    results.setdefault("assistants", {})
    with Progress(console=console) as progress:
        task = progress.add_task("parity", total=len(assistants) * len(wanted_tools))
        for assistant in assistants:
            for name in wanted_tools:
                progress.update(task, description=f"{name}: {assistant.name}")
                row = results["assistants"].setdefault(assistant.name, {})
                row["source"] = assistant.source
                row[name] = measure(tools[name], assistant, args.work, args.seed, not args.no_rest)
                row[name]["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
                results["machine"], results["updated"] = machine(), time.strftime("%Y-%m-%d %H:%M:%S")
                results["summary"] = summary(results)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
                args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
                r = row[name]
                console.print(f"{assistant.name:22} {name:5} validate={_fmt(r['validate']['passed'])} "
                              f"train={_fmt(r['train']['seconds']) if r['train']['ok'] else 'FAIL'} "
                              f"nlu={_fmt((r.get('test_nlu') or {}).get('intent_accuracy'))} "
                              f"core={_fmt((r.get('test_core') or {}).get('conversation_accuracy'))} "
                              f"rest={_fmt((r.get('rest') or {}).get('msg_per_s'), 1)}")
                progress.advance(task)
    console.print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
