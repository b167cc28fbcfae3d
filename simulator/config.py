"""``simulator.yml``: goal mix, personas, value pools, NLU noise and reward, read once and checked.

Every key is optional; a project without the file gets the defaults below. Errors name the file,
line and column of the key that is wrong (``simulator.yml:12:5: personas[1].patience must be ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.errors import UserFileError
from bot.yaml_reader import PosDict, load_yaml
from simulator.constants import CONFIG_FILE, DEFAULT_MAX_TURNS


@dataclass
class Persona:
    """How one kind of shopper behaves.

    :param name: shown in transcripts
    :param weight: relative frequency in the goal pool
    :param patience: bad bot turns (repeated or wrong questions, fallbacks) tolerated before giving up
    :param mood: starting mood in [0, 1] (1 = delighted, 0 = furious)
    :param verbosity: chance to add one more pending slot to the same message
    :param p_upfront: chance to give each known constraint in the first message
    :param p_interrupt: chance per turn to ask an unrelated question (bot challenge, product question)
    :param p_change_mind: chance to start with another request and switch to the real one
    :param p_ask_human: when patience runs out, chance to ask for a human (else the shopper leaves)
    :param p_greet: chance to open with a greeting
    :param anxious: a worried shopper (sentiment ``anxious`` instead of ``negative``)
    """

    name: str = "calm"
    weight: float = 1.0
    patience: int = 4
    mood: float = 0.8
    verbosity: float = 0.3
    p_upfront: float = 0.4
    p_interrupt: float = 0.05
    p_change_mind: float = 0.1
    p_ask_human: float = 0.5
    p_greet: float = 0.3
    anxious: bool = False


@dataclass
class TaskOverride:
    """Corrections to what the stories imply about one task (``tasks:`` in simulator.yml)."""

    required_slots: list[str] | None = None
    action: str | None = None
    requires_human: bool = False


@dataclass
class RewardConfig:
    """Reward terms (``reward:``); ``None`` means the TC-Bot default derived from ``max_turns``.

    :param turn: reward of every bot action
    :param success: at the end of a successful dialogue (default ``2 * max_turns``)
    :param failure: at the end of a failed one (default ``-max_turns``)
    :param handoff: cost of handing the shopper to a human (added to the outcome)
    :param mood: weight of the mood penalty (``-mood * drop`` whenever the mood falls)
    :param invalid_action: extra cost of an action the mask forbids (it is then a no-op)
    """

    turn: float = -1.0
    success: float | None = None
    failure: float | None = None
    handoff: float = -10.0
    mood: float = 10.0
    invalid_action: float = -1.0

    def resolved(self, max_turns: int) -> RewardConfig:
        return RewardConfig(
            turn=self.turn,
            success=2.0 * max_turns if self.success is None else self.success,
            failure=-float(max_turns) if self.failure is None else self.failure,
            handoff=self.handoff,
            mood=self.mood,
            invalid_action=self.invalid_action,
        )


@dataclass
class NoiseConfig:
    """TC-Bot's error model (``noise:``); ``None`` rates take the ``--nlu-error`` value.

    :param intent_error: chance the intent is replaced by another one
    :param slot_error: chance, per informed slot, that it is corrupted
    :param slot_error_mode: ``mixed`` (1/3 each of the three below), ``value``, ``swap`` or ``delete``
    """

    intent_error: float | None = None
    slot_error: float | None = None
    slot_error_mode: str = "mixed"


SLOT_ERROR_MODES = ("mixed", "value", "swap", "delete")
OUTCOME_SOURCES = ("auto", "backends", "table")


@dataclass
class SimulatorConfig:
    """Everything ``simulator.yml`` can set."""

    max_turns: int = DEFAULT_MAX_TURNS
    goal_mix: dict[str, float] = field(default_factory=dict)  # task intent -> weight (empty: all tasks, 1 each)
    tasks: dict[str, TaskOverride] = field(default_factory=dict)
    personas: list[Persona] = field(default_factory=lambda: [Persona()])
    values: dict[str, list[str]] = field(default_factory=dict)  # slot -> pool of values the shoppers use
    invalid_order_ids: list[str] = field(default_factory=list)
    p_invalid_order_id: float = 0.05
    p_feasible_order: float = 0.85
    orders: list[dict[str, Any]] = field(default_factory=list)  # shops without backends: the orders shoppers own
    outcomes: str = "auto"  # auto (backends when installed, else the orders list) | backends | table
    actions: str | None = None  # the rasa-sdk actions package run in process (None: ``actions`` when the project has one)
    failure_responses: list[str] = field(default_factory=list)  # replies that tell a shopper their request failed
    destructive_actions: list[str] = field(default_factory=list)  # actions that change an order (unwanted: harm)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    goal_pool: int = 2000
    heldout_fraction: float = 0.2
    goal_seed: int = 1234
    path: str | None = None


def _check_number(value: Any, where: str, path: str, pos: tuple[int, int], lo: float | None = None,
                  hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserFileError(path, pos[0], pos[1], f"{where} must be a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise UserFileError(path, pos[0], pos[1], f"{where} must be between {lo} and {hi}, got {value}")
    return float(value)


def _fill(cls: type, data: Any, where: str, path: str, probability_keys: tuple[str, ...] = ()) -> Any:
    """Build dataclass ``cls`` from mapping ``data``, naming unknown keys and bad types."""
    if not isinstance(data, dict):
        line, col = getattr(data, "line", 0), getattr(data, "col", 0)
        raise UserFileError(path, line, col, f"{where} must be a mapping")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        pos = data.pos(key) if isinstance(data, PosDict) else (0, 0)
        if key not in known:
            raise UserFileError(path, pos[0], pos[1],
                                f"unknown key '{key}' in {where} (expected one of {', '.join(sorted(known))})")
        default = known[key].default
        if value is None or isinstance(value, list | str | bool) or default is None:
            kwargs[key] = value
        elif isinstance(default, int | float):
            hi = 1.0 if key in probability_keys else None
            num = _check_number(value, f"{where}.{key}", path, pos, lo=0.0 if key in probability_keys else None,
                                hi=hi)
            kwargs[key] = int(num) if isinstance(default, int) and not isinstance(default, bool) else num
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_simulator_config(path: str | Path | None = None, root: str | Path = ".") -> SimulatorConfig:
    """Read ``simulator.yml`` under ``root`` (or ``path``); the defaults when the file does not exist."""
    file = Path(path) if path is not None else Path(root) / CONFIG_FILE
    if not file.exists():
        if path is not None:
            raise UserFileError(file, 0, 0, "simulator config not found")
        return SimulatorConfig()
    data = load_yaml(file, allow_empty=True) or PosDict()
    return parse_simulator_config(data, str(file))


def parse_simulator_config(data: dict[str, Any], path: str = CONFIG_FILE) -> SimulatorConfig:
    """Check and convert the parsed YAML of a ``simulator.yml``."""
    config = SimulatorConfig(path=path)
    simple = {"max_turns", "p_invalid_order_id", "p_feasible_order", "goal_pool", "heldout_fraction", "goal_seed"}
    allowed = simple | {"version", "outcomes", "goal_mix", "tasks", "personas", "values", "invalid_order_ids", "orders",
                        "noise", "reward", "actions", "failure_responses", "destructive_actions"}

    def pos(key: str) -> tuple[int, int]:
        return data.pos(key) if isinstance(data, PosDict) else (0, 0)

    for key, value in data.items():
        if key not in allowed:
            p = pos(key)
            raise UserFileError(path, p[0], p[1], f"unknown key '{key}' (expected one of {', '.join(sorted(allowed))})")
        if key in simple:
            prob = key in ("p_invalid_order_id", "p_feasible_order", "heldout_fraction")
            num = _check_number(value, key, path, pos(key), lo=0.0, hi=1.0 if prob else None)
            setattr(config, key, num if prob else int(num))
    if "outcomes" in data:
        config.outcomes = str(data["outcomes"])
        if config.outcomes not in OUTCOME_SOURCES:
            p = pos("outcomes")
            raise UserFileError(path, p[0], p[1], f"outcomes must be one of {', '.join(OUTCOME_SOURCES)}, "
                                                  f"got '{config.outcomes}'")
    if "actions" in data:
        if not isinstance(data["actions"], str) or not data["actions"].strip():
            p = pos("actions")
            raise UserFileError(path, p[0], p[1], "actions must name a Python package or module (e.g. actions)")
        config.actions = data["actions"].strip()
    for key in ("failure_responses", "destructive_actions"):
        if key in data:
            listed = data[key] or []
            if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
                p = pos(key)
                raise UserFileError(path, p[0], p[1], f"{key} must be a list of names")
            setattr(config, key, list(listed))
    if config.max_turns < 4:
        p = pos("max_turns")
        raise UserFileError(path, p[0], p[1], f"max_turns must be at least 4, got {config.max_turns}")
    if "goal_mix" in data:
        mix = data["goal_mix"] or {}
        if not isinstance(mix, dict):
            p = pos("goal_mix")
            raise UserFileError(path, p[0], p[1], "goal_mix must map task intents to weights")
        config.goal_mix = {
            str(k): _check_number(v, f"goal_mix.{k}", path, mix.pos(k) if isinstance(mix, PosDict) else (0, 0), lo=0.0)
            for k, v in mix.items()
        }
    if "tasks" in data:
        tasks = data["tasks"] or {}
        config.tasks = {str(k): _fill(TaskOverride, v or PosDict(), f"tasks.{k}", path) for k, v in tasks.items()}
    if "personas" in data:
        personas = data["personas"] or []
        probs = ("mood", "verbosity", "p_upfront", "p_interrupt", "p_change_mind", "p_ask_human", "p_greet")
        config.personas = [_fill(Persona, p, f"personas[{i}]", path, probs) for i, p in enumerate(personas)]
        if not config.personas:
            p = pos("personas")
            raise UserFileError(path, p[0], p[1], "personas must list at least one persona")
    if "values" in data:
        values = data["values"] or {}
        config.values = {str(k): [str(x) for x in (v or [])] for k, v in values.items()}
    if "invalid_order_ids" in data:
        config.invalid_order_ids = [str(x) for x in data["invalid_order_ids"] or []]
    if "orders" in data:
        config.orders = [dict(o) for o in data["orders"] or []]
    if "noise" in data:
        config.noise = _fill(NoiseConfig, data["noise"] or PosDict(), "noise", path, ("intent_error", "slot_error"))
        if config.noise.slot_error_mode not in SLOT_ERROR_MODES:
            p = data["noise"].pos("slot_error_mode") if isinstance(data["noise"], PosDict) else (0, 0)
            raise UserFileError(path, p[0], p[1], f"noise.slot_error_mode must be one of {', '.join(SLOT_ERROR_MODES)}, "
                                                  f"got '{config.noise.slot_error_mode}'")
    if "reward" in data:
        config.reward = _fill(RewardConfig, data["reward"] or PosDict(), "reward", path)
    return config
