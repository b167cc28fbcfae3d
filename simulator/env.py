"""``kefu/CustomerService-v0``: a shop's customer service as a Gymnasium environment."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from bot.actions.handoff import REASON_FALLBACKS
from bot.constants import (
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_LISTEN_NAME,
    DEFAULT_ACTION_NAMES,
)
from bot.tracker import DialogueStateTracker
from simulator.channel import SemanticChannel, TextChannel, TextRenderer, UserChannel, load_nlu_pipeline
from simulator.constants import (
    DEFAULT_MAX_HISTORY,
    INTENT_HUMAN,
    OUTCOME_BOT_ENDED,
    OUTCOME_HANDOFF,
    OUTCOME_SUCCESS,
    OUTCOME_TIMEOUT,
    OUTCOME_USER_LEFT,
    OUTCOME_WRONG_ACTION,
)
from simulator.engine import LiveEngine
from simulator.goals import UserGoal
from simulator.user import AgendaUser, BotAct, UserAct
from simulator.world import SimulatorWorld, load_world

MAX_ACTIONS_PER_TURN = 3
MASK_MODES = ("simulator", "served")
VALIDATION_PREFIX = "validate_"
UTTER_GOODBYE = "utter_goodbye"
ALWAYS_ALLOWED_BUILTINS = (ACTION_LISTEN_NAME, ACTION_DEACTIVATE_LOOP_NAME, ACTION_DEFAULT_FALLBACK_NAME)


def default_featurizer(domain: Any, max_history: int = DEFAULT_MAX_HISTORY) -> Any:
    """The ``policies`` featurizer the live ML policy uses (same vector in training and in production)."""
    from policies.featurizer import TrackerFeaturizer

    return TrackerFeaturizer(domain, max_history=max_history)


class CustomerServiceEnv(gym.Env[np.ndarray, int]):
    """Simulated shoppers talking to the shop's bot, one bot action per step.

    ## Description
    Each episode a shopper with a goal drawn from the goal pool (track, cancel or return an order,
    change an address, a refund, a recommendation, a complaint, …) writes to the bot. The agent
    picks the bot's next action, as a Rasa policy does: forms, custom actions, responses, a handoff,
    or ``action_listen`` to let the shopper answer. Custom actions get real outcomes from the shop's
    systems; the shopper's messages pass through an NLU error model (or the real NLU at the text
    level) and set slots through the domain's slot mappings, on the real ``DialogueStateTracker``.

    ## Action Space
    ``Discrete(len(domain.action_names))``: index ``i`` runs ``domain.action_names[i]``.
    :meth:`action_masks` says which are valid now (True = valid): no listening before the bot said
    something, at most 3 actions per turn and none twice in one turn, no custom action with a
    missing slot (no order lookup without an order id, no submit with an empty form slot), no
    ``action_deactivate_loop`` without an active form, no built-in the simulator does not model.
    An invalid action is a no-op that costs ``reward.invalid_action`` more.

    ## Observation Space
    ``Box(0, 1, (featurizer.observation_size,), float32)``: the tracker featurised by the same
    ``policies`` featurizer the live ML policy uses.

    ## Rewards
    ``reward.turn`` (−1) every step; at the end ``reward.success`` (+2·max_turns) when the goal was
    met or ``reward.failure`` (−max_turns) when the shopper left, the bot did something harmful or
    time ran out; a handoff ends the dialogue at ``reward.handoff``, plus ``reward.success`` for a
    shopper whose goal was a human, or plus ``reward.failure`` when the shopper had not asked for
    one; ``reward.mood`` × every fall in the shopper's mood.

    ## Starting State
    A fresh tracker (session start), the shopper's first message already parsed.

    ## Episode End
    Terminated: the shopper said goodbye (goal met or gave up), the bot handed off, or the bot did
    something the shopper did not want. Truncated: ``max_turns`` bot actions (also registered as
    ``max_episode_steps``). ``info["is_success"]`` is set on the last step.

    ## Arguments
    :param world: a loaded :class:`SimulatorWorld` (else one is read from ``project_root``)
    :param project_root: project directory with domain.yml, data/ and simulator.yml
    :param nlu_error: TC-Bot intent and slot error rate (``simulator.yml`` ``noise:`` overrides)
    :param goal_split: ``train``, ``test`` (held-out goals) or ``all``
    :param level: ``semantic`` (error model) or ``text`` (rendered text through the real NLU)
    :param nlu_model: directory of a trained NLU model (text level)
    :param featurizer: object with ``observation_size`` and ``featurize(tracker)`` (default: policies')
    :param max_history: featurizer history when the default featurizer is built
    :param render_mode: ``ansi`` returns the transcript
    :param masks: ``simulator`` (the masks above, for training) or ``served`` (every action is valid, as for a
        served model, which runs whatever it predicts; at most the processor's ``max_predictions`` per turn)
    :param engine: what the shoppers talk to (default: the live engine in process, :mod:`simulator.engine`;
        :class:`simulator.remote.RemoteEngine` for a running server)
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        world: SimulatorWorld | None = None,
        project_root: str = ".",
        nlu_error: float = 0.0,
        goal_split: str = "train",
        level: str = "semantic",
        nlu_model: str | None = None,
        featurizer: Any = None,
        max_history: int = DEFAULT_MAX_HISTORY,
        render_mode: str | None = None,
        masks: str = "simulator",
        engine: Any = None,
    ) -> None:
        super().__init__()
        if masks not in MASK_MODES:
            raise ValueError(f"masks must be one of {', '.join(MASK_MODES)}, got {masks!r}")
        self.masks = masks
        self.world = world if world is not None else load_world(project_root)
        domain = self.world.domain
        self.domain = domain
        self.action_names: list[str] = list(domain.action_names)
        self.action_index = {name: i for i, name in enumerate(self.action_names)}
        self.featurizer = featurizer if featurizer is not None else default_featurizer(domain, max_history)
        size = int(self.featurizer.observation_size)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(self.action_names))
        self.max_turns = self.world.max_turns
        self.reward_config = self.world.config.reward.resolved(self.max_turns)
        self.goals: list[UserGoal] = self.world.goals.split(goal_split)
        self.goal_split = goal_split
        self.nlu_error = float(nlu_error)
        noise = self.world.config.noise
        self.channel: UserChannel = self._make_channel(level, nlu_model, noise)
        self.level = level
        self.shop = self.world.shop.fork() if engine is None else self.world.shop
        self.engine = engine if engine is not None else LiveEngine(domain, self.shop, self.world.handoff,
                                                                             offers=self.world.offers)
        self.render_mode = render_mode
        self.task_slots: dict[str, tuple[str, ...]] = {}
        for task in self.world.catalog.tasks.values():
            self.task_slots.setdefault(task.action, task.required_slots)
        self._static_mask = self._build_static_mask()
        self._listen = self.action_index[ACTION_LISTEN_NAME]
        self._deactivate = self.action_index.get(ACTION_DEACTIVATE_LOOP_NAME)
        self._fallback = self.action_index.get(ACTION_DEFAULT_FALLBACK_NAME)
        self._needs = [tuple(self.task_slots.get(a, ())) if a not in domain.forms else () for a in self.action_names]
        # per-episode state
        self.tracker: DialogueStateTracker | None = None
        self.user: AgendaUser | None = None
        self.goal: UserGoal | None = None
        self._turn_acts: list[BotAct] = []
        self._turn_actions: set[int] = set()
        self._turn_count = 0  # bot actions since the shopper's last message
        self._steps = 0
        self._ended = False
        self.transcript: list[str] = []

    # -- construction helpers -------------------------------------------------------------------
    def _make_channel(self, level: str, nlu_model: str | None, noise: Any) -> UserChannel:
        if level == "semantic":
            intent_error = self.nlu_error if noise.intent_error is None else noise.intent_error
            slot_error = self.nlu_error if noise.slot_error is None else noise.slot_error
            return SemanticChannel(self.domain, self.world.goals.values.pools, intent_error, slot_error,
                                   noise.slot_error_mode)
        if level == "text":
            if nlu_model is None:
                raise ValueError("the text level needs a trained NLU model: pass nlu_model='models/nlu' "
                                 "(train one with `kefu train nlu`)")
            renderer = TextRenderer(self.world.nlu.examples, self.domain)
            return TextChannel(load_nlu_pipeline(nlu_model), renderer)
        raise ValueError(f"level must be 'semantic' or 'text', got {level!r}")

    def _build_static_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.action_names), dtype=bool)
        domain = self.domain
        client = self.shop.action_client
        custom = set(client.action_names()) if client is not None else set()
        runnable = custom | set(domain.forms) | set(domain.responses)
        for i, name in enumerate(self.action_names):
            if name in DEFAULT_ACTION_NAMES:
                mask[i] = name in ALWAYS_ALLOWED_BUILTINS
            else:
                mask[i] = name in runnable and not name.startswith(VALIDATION_PREFIX)
        return mask

    # -- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = options or {}
        if "goal" in options:
            goal = options["goal"]
        elif "goal_index" in options:
            goal = self.goals[int(options["goal_index"]) % len(self.goals)]
        else:
            goal = self.goals[int(self.np_random.integers(len(self.goals)))]
        self.goal = goal
        catalog = self.world.catalog
        self.user = AgendaUser(goal, self.np_random, catalog.answers, catalog.writes)
        self.tracker = self.engine.new_tracker()
        self._steps = 0
        self._ended = False
        self._handoff_due = None
        self._handoff_after: str | None = None
        self._turn_acts = []
        self._turn_actions = set()
        self._turn_count = 0
        self.transcript = []
        if self.render_mode is not None:
            self.transcript.append(f"goal: {goal.describe()}")
        self._user_says(self.user.first_act())
        self._handoff_due = self.engine.handoff_reason(self.tracker)
        self._handoff_after = self.engine.handoff_after_reply(self.tracker)
        return self._observe(), {"goal_id": goal.goal_id, "achievable": goal.achievable, "task": goal.task.intent}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.tracker is None or self.user is None or self._ended:
            raise RuntimeError("call reset() before step() (the episode has ended)")
        a = int(action)
        rc = self.reward_config
        self._steps += 1
        reward = rc.turn
        terminated = False
        outcome: str | None = None
        user = self.user
        if self._handoff_due is not None:  # Kefu hands off before any prediction, whatever the policy chose
            self.engine.hand_off(self.tracker, self._handoff_due)
            self._handoff_due = None
            terminated, outcome = True, OUTCOME_HANDOFF
            if self.render_mode is not None:
                self.transcript.append("  bot: handoff (Kefu's automatic handoff)")
        elif not self._valid(a):
            reward += rc.invalid_action
            if self.render_mode is not None:
                self.transcript.append(f"  bot: {self.action_names[a]} (not allowed now: no-op)")
        elif a == self._listen and self._handoff_after is not None:
            # as served: the angry shopper heard the answer; where the bot would listen, a person takes over
            user.respond(self._turn_acts)  # they take the answer in
            self.engine.hand_off(self.tracker, self._handoff_after)
            self._handoff_after = None
            terminated, outcome = True, OUTCOME_SUCCESS if user.done else OUTCOME_HANDOFF
        elif a == self._listen:
            self.engine.listen(self.tracker)
            if self.engine.fallback_handoff_due(self.tracker):  # as served: fallbacks in a row hand off
                self.engine.hand_off(self.tracker, REASON_FALLBACKS)
                terminated, outcome = True, OUTCOME_HANDOFF
            else:
                terminated, outcome, mood_drop = self._shopper_turn()
                reward -= rc.mood * mood_drop
        else:
            name = self.action_names[a]
            self.tracker.followup_action = None
            bot_act = self.engine.run(self.tracker, name)
            self._turn_actions.add(a)
            self._turn_count += 1
            if bot_act is not None:
                self._turn_acts.append(bot_act)
            if self.render_mode is not None:
                self.transcript.append(f"  bot: {self._describe(name, bot_act)}")
            if self.tracker.paused:
                terminated = True
                outcome = OUTCOME_HANDOFF
            elif name == UTTER_GOODBYE:
                terminated = True
                outcome = OUTCOME_SUCCESS if user.done else OUTCOME_BOT_ENDED
        truncated = False
        info: dict[str, Any] = {}
        if terminated:
            success = outcome == OUTCOME_SUCCESS or (outcome == OUTCOME_HANDOFF and self.goal.task.requires_human)
            if outcome == OUTCOME_HANDOFF:
                # a shopper who asked for a person got one: only the handoff's cost; one who did not: a failure
                asked = user.last_act is not None and user.last_act.intent == INTENT_HUMAN
                reward += rc.handoff + (rc.success if success else 0.0 if asked else rc.failure)
            else:
                reward += rc.success if success else rc.failure
            info = self._final_info(outcome, success)
        elif self._steps >= self.max_turns:
            truncated = True
            reward += rc.failure
            info = self._final_info(OUTCOME_TIMEOUT, False)
        if terminated or truncated:
            self._ended = True
        return self._observe(), float(reward), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Which actions are valid now (True = valid), for sb3-contrib's MaskablePPO."""
        if self.masks == "served":
            return self._served_mask()
        mask = self._static_mask.copy()
        tracker = self.tracker
        if tracker is None:
            return mask
        acted = len(self._turn_actions)
        mask[self._listen] = acted > 0
        if acted >= MAX_ACTIONS_PER_TURN:
            mask[:] = False
            mask[self._listen] = True
            return mask
        followup = tracker.followup_action
        if followup in self.action_index:  # a custom action asked for this one next: live, nothing else runs
            mask[:] = False
            mask[self.action_index[followup]] = True
            return mask
        for i in self._turn_actions:
            mask[i] = False
        if self._fallback is not None and acted > 0:
            mask[self._fallback] = False
        if self._deactivate is not None and tracker.active_loop_name is None:
            mask[self._deactivate] = False
        slots = tracker.slots
        for i, needs in enumerate(self._needs):
            if needs and mask[i]:
                for slot in needs:
                    if slots.get(slot) is None:
                        mask[i] = False
                        break
        return mask

    def _served_mask(self) -> np.ndarray:
        """Every action, until the processor's ``max_predictions`` in one turn (then it only listens)."""
        mask = np.ones(len(self.action_names), dtype=bool)
        if self._turn_count >= self.engine.processor.max_predictions:
            mask[:] = False
            mask[self._listen] = True
        return mask

    @property
    def static_action_mask(self) -> np.ndarray:
        """Actions the simulator can ever allow (False: never valid in any state, e.g. ``validate_*``)."""
        return self._static_mask.copy()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n".join(self.transcript)
        return None

    # -- internals ------------------------------------------------------------------------------
    def _shopper_turn(self) -> tuple[bool, str | None, float]:
        """The shopper answers the bot's turn: (dialogue over, its outcome, how far their mood fell)."""
        user = self.user
        mood_before = user.mood
        act = user.respond(self._turn_acts)
        self._turn_acts = []
        self._turn_actions = set()
        self._turn_count = 0
        mood_drop = max(0.0, mood_before - user.mood)
        if not (act.is_terminal or user.left or user.wrong_action):
            self._user_says(act)
            self._handoff_due = self.engine.handoff_reason(self.tracker)
            self._handoff_after = self.engine.handoff_after_reply(self.tracker)
            return False, None, mood_drop
        if self.render_mode is not None:
            self.transcript.append(f"user: {act} [{act.sentiment}]")
        if user.done:
            return True, OUTCOME_SUCCESS, mood_drop
        return True, OUTCOME_WRONG_ACTION if user.wrong_action else OUTCOME_USER_LEFT, mood_drop

    def _valid(self, a: int) -> bool:
        return bool(self.action_masks()[a])

    def _user_says(self, act: UserAct) -> None:
        parse = self.channel.parse(act, self.np_random)
        self.engine.user_message(self.tracker, parse)
        if self.render_mode is not None:
            heard = parse["intent"]["name"]
            ents = {e["entity"]: e["value"] for e in parse.get("entities", [])}
            said = act.text if act.text is not None else str(act)
            self.transcript.append(f"user: {said} [{act.sentiment}]  (bot heard: {heard} {ents})")

    def _observe(self) -> np.ndarray:
        return np.asarray(self.featurizer.featurize(self.tracker), dtype=np.float32)

    def _final_info(self, outcome: str, success: bool) -> dict[str, Any]:
        user = self.user
        goal = self.goal
        if self.render_mode is not None:
            self.transcript.append(f"== {outcome}{' (success)' if success else ''}")
        return {
            "is_success": bool(success),
            "outcome": outcome,
            "achievable": goal.achievable,
            "task": goal.task.intent,
            "goal_id": goal.goal_id,
            "user_turns": user.turns + 1,
            "bot_actions": self._steps,
            "mood": user.mood,
            "handoff": outcome == OUTCOME_HANDOFF,
            "asked_human": user.asked_human or (user.last_act is not None and user.last_act.intent == INTENT_HUMAN),
        }

    @staticmethod
    def _describe(name: str, act: BotAct | None) -> str:
        if act is None:
            return f"{name} (form complete)"
        if act.asked:
            return f"{name} -> asks {act.asked}"
        if act.outcome is not None:
            used = {k: v for k, v in (act.used or {}).items() if v is not None}
            return f"{name}{used} -> {act.outcome.reason}"
        return name
