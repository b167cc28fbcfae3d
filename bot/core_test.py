"""``kefu test core``: evaluate test stories and write Rasa's report files.

Without ``--e2e`` each action a story names is predicted from the story's own events (teacher
forcing; no custom action runs), as ``rasa test core`` does. With ``--e2e`` every story is played
as a real conversation: its user text goes through the NLU model, custom actions run on the action
server, and the actions the bot actually ran are compared with the story's.

Outputs in ``--out``: ``story_report.json`` (per action precision/recall/f1-score/support, accuracy,
macro/weighted/micro averages and ``conversation_accuracy``), ``failed_test_stories.yml`` (each
wrong step marked ``# predicted: <action>``), ``story_confusion_matrix.png`` and, with
``--successes``, ``successful_test_stories.yml``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import events as ev
from bot.agent import Agent
from bot.constants import ACTION_LISTEN_NAME
from bot.events import EventDict
from bot.training_data import StoryBlock

NONE_LABEL = "None"


@dataclass
class StoryResult:
    """One test conversation (a story, or one ``or`` branch of it) and how the bot did."""

    name: str
    source: str | None
    events: list[EventDict]
    predictions: dict[int, str] = field(default_factory=dict)  # event index → predicted action (actions only)
    wrong_intents: dict[int, str] = field(default_factory=dict)  # event index → predicted intent (e2e)
    extra_actions: dict[int, list[str]] = field(default_factory=dict)  # e2e: unexpected actions before event i

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(expected, predicted) for every evaluated action."""
        out = [(str(self.events[i].get("name")), predicted) for i, predicted in sorted(self.predictions.items())]
        for extras in self.extra_actions.values():
            out += [(NONE_LABEL, extra) for extra in extras]
        return out

    @property
    def correct(self) -> bool:
        return (all(e == p for e, p in self.pairs) and not self.wrong_intents
                and not any(self.extra_actions.values()))


def _snippet_name() -> str:
    from policies.constants import RULE_SNIPPET_ACTION_NAME

    return RULE_SNIPPET_ACTION_NAME


def evaluate_core(agent: Agent, blocks: Sequence[StoryBlock]) -> list[StoryResult]:
    """Teacher-forced evaluation of every test story with the agent's policy ensemble."""
    from policies.evaluation import predict_for_evaluation
    from policies.story_graph import story_events

    if agent.policy is None:
        raise ValueError("the model has no dialogue policies (train with 'kefu train')")
    snippet = _snippet_name()
    results: list[StoryResult] = []
    for block in blocks:
        trackers = story_events(block, agent.domain)
        for branch, tracker in enumerate(trackers):
            name = block.name if len(trackers) == 1 else f"{block.name} (branch {branch + 1})"
            result = StoryResult(name, _where(block), tracker.events)
            for index, event in enumerate(tracker.events):
                if event.get("event") != ev.ACTION or event.get("name") == snippet:
                    continue
                prediction = predict_for_evaluation(agent.policy, tracker.events[:index], agent.domain,
                                                    str(event.get("name")))
                result.predictions[index] = prediction.action_name or NONE_LABEL
            results.append(result)
    return results


def _where(block: StoryBlock) -> str | None:
    return f"{block.source.path}:{block.source.line}" if block.source else None


async def evaluate_e2e(agent: Agent, blocks: Sequence[StoryBlock], processor_factory: Any) -> list[StoryResult]:
    """Play each test story as a conversation (NLU + policies + real action server)."""
    from bot.channels.base import CollectingOutputChannel, UserMessage
    from policies.story_graph import story_events

    snippet = _snippet_name()
    results: list[StoryResult] = []
    for block in blocks:
        trackers = story_events(block, agent.domain)
        for branch, tracker in enumerate(trackers):
            name = block.name if len(trackers) == 1 else f"{block.name} (branch {branch + 1})"
            result = StoryResult(name, _where(block), tracker.events)
            processor = processor_factory()
            sender = f"test-{uuid.uuid4().hex[:12]}"
            turns = _turns(tracker.events, snippet)
            for user_index, expected in turns:
                user = tracker.events[user_index]
                text = user.get("text") or _payload(user)
                await processor.handle_message(UserMessage(text, sender, input_channel="test"), CollectingOutputChannel())
                live = await processor.get_tracker(sender)
                last_user = max(i for i, e in enumerate(live.events) if e.get("event") == ev.USER)
                predicted_intent = ((live.events[last_user].get("parse_data") or {}).get("intent") or {}).get("name")
                expected_intent = ((user.get("parse_data") or {}).get("intent") or {}).get("name")
                if user.get("text") and expected_intent and predicted_intent != expected_intent:
                    result.wrong_intents[user_index] = str(predicted_intent)
                ran = [str(e.get("name")) for e in live.events[last_user + 1:] if e.get("event") == ev.ACTION]
                if not ran or ran[-1] != ACTION_LISTEN_NAME:  # a handed-off conversation waits as a listen would
                    ran.append(ACTION_LISTEN_NAME if live.paused else NONE_LABEL)
                for position, event_index in enumerate(expected):
                    result.predictions[event_index] = ran[position] if position < len(ran) else NONE_LABEL
                if len(ran) > len(expected):
                    result.extra_actions[user_index] = ran[len(expected):]
            results.append(result)
    return results


def _payload(user: EventDict) -> str:
    parse = user.get("parse_data") or {}
    intent = (parse.get("intent") or {}).get("name")
    entities = {e.get("entity"): e.get("value") for e in parse.get("entities") or []}
    return f"/{intent}{json.dumps(entities) if entities else ''}"


def _turns(events: list[EventDict], snippet: str) -> list[tuple[int, list[int]]]:
    """(index of each user event, indices of the actions expected after it up to the listen)."""
    turns: list[tuple[int, list[int]]] = []
    for index, event in enumerate(events):
        if event.get("event") == ev.USER:
            turns.append((index, []))
        elif event.get("event") == ev.ACTION and turns and event.get("name") != snippet:
            turns[-1][1].append(index)
    return turns


# -- reports -----------------------------------------------------------------------------------------
def story_report(results: Sequence[StoryResult]) -> dict[str, Any]:
    """Rasa's ``story_report.json``."""
    pairs = [p for r in results for p in r.pairs]
    labels = sorted({label for pair in pairs for label in pair})
    report: dict[str, Any] = {}
    for label in labels:
        tp = sum(1 for e, p in pairs if e == label and p == label)
        fp = sum(1 for e, p in pairs if e != label and p == label)
        fn = sum(1 for e, p in pairs if e == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1-score": f1,
                         "support": sum(1 for e, _ in pairs if e == label)}
    correct_actions = sum(1 for e, p in pairs if e == p)
    accuracy = correct_actions / len(pairs) if pairs else 1.0
    supported = [label for label in labels if report[label]["support"] > 0]
    total_support = sum(report[label]["support"] for label in supported)

    def average(key: str, weighted: bool) -> float:
        if not supported:
            return 0.0
        if weighted:
            return sum(report[lb][key] * report[lb]["support"] for lb in supported) / total_support
        return sum(report[lb][key] for lb in supported) / len(supported)

    report["accuracy"] = accuracy
    for name, weighted in (("macro avg", False), ("weighted avg", True)):
        report[name] = {"precision": average("precision", weighted), "recall": average("recall", weighted),
                        "f1-score": average("f1-score", weighted), "support": total_support}
    report["micro avg"] = {"precision": accuracy, "recall": accuracy, "f1-score": accuracy, "support": len(pairs)}
    correct = sum(r.correct for r in results)
    report["conversation_accuracy"] = {
        "accuracy": correct / len(results) if results else 1.0,
        "correct": correct,
        "with_warnings": 0,
        "total": len(results),
    }
    return report


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    value = json.loads(json.dumps(value, default=str))  # plain types (the YAML reader's str subclasses)
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip().removesuffix("...").strip()


def story_yaml(result: StoryResult, marked: bool = True) -> list[str]:
    """The conversation as a YAML story, wrong steps marked with ``# predicted: ...`` (Rasa's style)."""
    title = result.name + (f" ({result.source})" if result.source else "")
    lines = [f"- story: {_scalar(title)}", "  steps:"]
    pending_slots: list[str] = []

    def flush() -> None:
        if pending_slots:
            lines.append("  - slot_was_set:")
            lines.extend(pending_slots)
            pending_slots.clear()

    for index, event in enumerate(result.events):
        kind = event.get("event")
        if kind != ev.SLOT:
            flush()
        for extra in result.extra_actions.get(index, []) if marked else []:
            lines.append(f"  - action: {NONE_LABEL}  # predicted: {extra}")
        if kind == ev.USER:
            parse = event.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            comment = ""
            if marked and index in result.wrong_intents:
                comment = f"  # predicted: {result.wrong_intents[index]}: {event.get('text')}"
            lines.append(f"  - intent: {_scalar(intent)}{comment}")
            if event.get("text"):
                lines.append(f"    user: {_scalar(event['text'])}")
            entities = parse.get("entities") or []
            if entities:
                lines.append("    entities:")
                for entity in entities:
                    lines.append(f"    - {_scalar(entity.get('entity'))}: {_scalar(entity.get('value'))}")
                    for key in ("role", "group"):
                        if entity.get(key):
                            lines.append(f"      {key}: {_scalar(entity[key])}")
        elif kind == ev.ACTION:
            name = str(event.get("name"))
            predicted = result.predictions.get(index)
            wrong = marked and predicted is not None and predicted != name
            if name == ACTION_LISTEN_NAME and not wrong:
                continue
            lines.append(f"  - action: {name}" + (f"  # predicted: {predicted}" if wrong else ""))
        elif kind == ev.SLOT:
            pending_slots.append(f"    - {_scalar(event.get('name'))}: {_scalar(event.get('value'))}")
        elif kind == ev.ACTIVE_LOOP:
            loop = event.get("name")
            lines.append(f"  - active_loop: {_scalar(loop if loop and not str(loop).startswith('__') else None)}")
    flush()
    return lines


def write_stories(path: Path, results: Sequence[StoryResult], marked: bool = True) -> None:
    lines = ['version: "3.1"', "stories:"]
    for result in results:
        lines += story_yaml(result, marked)
    if not results:
        lines[-1] = "stories: []"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_confusion_matrix(path: Path, results: Sequence[StoryResult]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [p for r in results for p in r.pairs]
    labels = sorted({label for pair in pairs for label in pair}) or [NONE_LABEL]
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for expected, predicted in pairs:
        matrix[index[expected]][index[predicted]] += 1
    size = max(6.0, 0.45 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > max(max(r) for r in matrix) / 2 else "black")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    accuracy = sum(1 for e, p in pairs if e == p) / len(pairs) if pairs else 1.0
    ax.set_title(f"Action Confusion matrix (accuracy {accuracy:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(out: str | Path, results: Sequence[StoryResult], successes: bool = False) -> dict[str, Any]:
    """Write every report file into ``out``; returns the story report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = story_report(results)
    (out / "story_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    write_stories(out / "failed_test_stories.yml", [r for r in results if not r.correct])
    if successes:
        write_stories(out / "successful_test_stories.yml", [r for r in results if r.correct], marked=False)
    plot_confusion_matrix(out / "story_confusion_matrix.png", results)
    return report
