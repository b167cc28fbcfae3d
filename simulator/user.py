"""The agenda-based simulated shopper (Schatzmann et al. 2007), with patience and mood.

The shopper holds a goal and an agenda: a stack of pending acts with ``goodbye`` at the bottom,
then one ``inform`` per constraint, then the request itself on top. Each bot turn is pushed
through reaction rules (a question pushes the answer, a confirmation pushes affirm or deny, a
result with a wrong value pushes a correction, a failure pushes "a human, please"), then the
shopper pops the top act (sometimes two informs at once) and says it.

Mood falls on repeated questions, irrelevant or wrong answers, fallbacks and long dialogues;
below the persona's patience the shopper asks for a human or leaves. The mood becomes the
message's sentiment, and at the text level an angry shopper writes angrier text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.constants import (
    INTENT_AFFIRM,
    INTENT_BOT_CHALLENGE,
    INTENT_DENY,
    INTENT_GOODBYE,
    INTENT_GREET,
    INTENT_HUMAN,
    INTENT_INFORM,
    INTENT_PRODUCT_QUESTION,
    INTENT_STOP,
)
from simulator.goals import UserGoal
from simulator.outcomes import Outcome

# How much each kind of bad bot turn costs the shopper's mood
MOOD_REPEAT = 0.08
MOOD_IRRELEVANT = 0.10
MOOD_WRONG_RESULT = 0.15
MOOD_FAILURE = 0.20
MOOD_FALLBACK = 0.10
MOOD_IGNORED = 0.04
MOOD_LONG = 0.02
LONG_AFTER_TURNS = 6
GIVE_UP_MOOD = 0.12
P_REPHRASE_DETAIL = 0.5  # not understood: chance the rephrased request carries one more detail



@dataclass
class UserAct:
    """What the shopper means in one message (the semantic level).

    :param intent: the intent
    :param slots: slot -> value the message carries (entities, or the free text a form asks for)
    :param sentiment: the sentiment label the mood gives
    :param text: the rendered message (text level), else None
    """

    intent: str
    slots: dict[str, Any] = field(default_factory=dict)
    sentiment: str = "neutral"
    text: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.intent in (INTENT_GOODBYE,) or (self.intent == INTENT_STOP and not self.slots)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.slots.items())
        return f"{self.intent}({args})"


@dataclass(frozen=True)
class BotAct:
    """One thing the bot did this turn, as the shopper perceives it.

    :param action: the action's name
    :param asked: the slot it asked for (``utter_ask_email``, or a form's requested slot)
    :param outcome: a custom action's result
    :param used: the slot values the custom action ran with
    """

    action: str
    asked: str | None = None
    outcome: Outcome | None = None
    used: Mapping[str, Any] | None = None


class AgendaUser:
    """A simulated shopper pursuing one :class:`UserGoal`.

    :param goal: what the shopper wants
    :param rng: the env's ``np_random`` (all randomness comes from it)
    :param answers: intent -> the action that answers it, from the shop's stories (``TaskCatalog.answers``)
    :param writes: actions that change an order (``destructive_actions`` of simulator.yml)
    """

    def __init__(self, goal: UserGoal, rng: np.random.Generator, answers: Mapping[str, str] | None = None,
                 writes: frozenset[str] = frozenset()) -> None:
        self.goal = goal
        self.rng = rng
        self.persona = goal.persona
        self.mood = float(goal.persona.mood)
        self.bad_turns = 0
        self.turns = 0
        self.done = False  # the goal was met
        self.failed_for_real = False  # the shop refused with the true values (not achievable)
        self.asked_human = False
        self.left = False
        self.wrong_action = False  # the bot did something harmful the shopper did not want
        self.informed: set[str] = set()
        self.asked: dict[str, int] = {}
        self.last_act: UserAct | None = None
        self.pending_decoy = goal.decoy_intent is not None
        self.open_question: str | None = None  # an interruption waiting for its answer
        self.answers = dict(answers or {})  # intent -> the action that answers it (the shop's stories)
        self.writes = writes  # actions that change an order: harmful when the shopper did not ask
        self.agenda: list[UserAct] = self._initial_agenda()

    # -- agenda ---------------------------------------------------------------------------------
    def _task_act(self, slots: tuple[str, ...]) -> UserAct:
        return UserAct(self.goal.task.intent, {s: self.goal.values[s] for s in slots})

    def _initial_agenda(self) -> list[UserAct]:
        goal = self.goal
        agenda = [UserAct(INTENT_GOODBYE)]
        for slot in reversed(goal.task.required_slots):
            if slot not in goal.upfront and slot not in goal.task.confirm_slots and slot in goal.values:
                agenda.append(UserAct(INTENT_INFORM, {slot: goal.values[slot]}))
        if goal.decoy_intent:
            agenda.append(UserAct(goal.decoy_intent))
        else:
            agenda.append(self._task_act(goal.upfront))
        if self.rng.random() < self.persona.p_greet:
            agenda.append(UserAct(INTENT_GREET))
        return agenda

    def _push(self, act: UserAct) -> None:
        self.agenda.append(act)

    def _push_inform(self, slot: str) -> None:
        self.agenda = [a for a in self.agenda if not (a.intent == INTENT_INFORM and slot in a.slots)]
        self._push(UserAct(INTENT_INFORM, {slot: self.goal.values[slot]}))

    def _restate_task(self) -> None:
        """Say the request again, with what was already said."""
        confirm = self.goal.task.confirm_slots
        known = tuple(s for s in self.goal.values if s in self.informed and s not in confirm)
        self._push(self._task_act(known))

    def _rephrase_request(self) -> None:
        """Not understood: say the request again in other words, sometimes with one more detail."""
        confirm = self.goal.task.confirm_slots
        known = [s for s in self.goal.values if s in self.informed and s not in confirm]
        extra = next((s for s in self.goal.task.required_slots
                      if s in self.goal.values and s not in known and s not in confirm), None)
        if self.rng.random() >= P_REPHRASE_DETAIL:
            extra = None
        if extra is not None:
            known.append(extra)
            self.agenda = [a for a in self.agenda if not (a.intent == INTENT_INFORM and extra in a.slots)]
        self._push(self._task_act(tuple(known)))

    # -- mood -----------------------------------------------------------------------------------
    def _hurt(self, amount: float, bad: bool = True) -> None:
        self.mood = max(0.0, self.mood - amount)
        if bad:
            self.bad_turns += 1

    @property
    def sentiment(self) -> str:
        if self.mood < 0.25:
            return "angry"
        if self.mood < 0.45:
            return "anxious" if self.persona.anxious else "negative"
        if self.mood < 0.8:
            return "anxious" if self.persona.anxious and self.mood < 0.6 else "neutral"
        return "positive"

    @property
    def out_of_patience(self) -> bool:
        return self.bad_turns > self.persona.patience or self.mood < GIVE_UP_MOOD

    # -- the dialogue ---------------------------------------------------------------------------
    def first_act(self) -> UserAct:
        return self._say(self._pop())

    def respond(self, bot_acts: list[BotAct]) -> UserAct:
        """The shopper's next message after the bot's turn (``bot_acts`` in order)."""
        self.turns += 1
        if self.turns > LONG_AFTER_TURNS:
            self._hurt(MOOD_LONG, bad=False)
        if not bot_acts:
            self._hurt(MOOD_IGNORED)
            return self._say(self._repeat())
        answered_question = False
        for act in bot_acts:
            answered_question |= self._react(act)
            if self.left or self.wrong_action:
                return self._say(UserAct(INTENT_GOODBYE))
        if self.open_question and not answered_question:
            self._hurt(MOOD_IGNORED, bad=False)
        self.open_question = None
        if self.done:
            return self._say(UserAct(INTENT_GOODBYE))
        if self.out_of_patience or self.failed_for_real:
            return self._say(self._give_up())
        if self.pending_decoy:
            self.pending_decoy = False
            self._hurt(0.0, bad=False)
            self.agenda = [a for a in self.agenda if a.intent != self.goal.decoy_intent]
            self._push(self._task_act(self.goal.upfront))
        elif self.turns > 1 and self.persona.p_interrupt > 0 and self.rng.random() < self.persona.p_interrupt:
            return self._say(self._interruption())
        return self._say(self._pop())

    def _give_up(self) -> UserAct:
        if not self.asked_human and self.rng.random() < self.persona.p_ask_human:
            self.asked_human = True
            return UserAct(INTENT_HUMAN)
        self.left = True
        return UserAct(INTENT_GOODBYE)

    def _interruption(self) -> UserAct:
        products = self.goal.values.get("product") or "the charger"
        if self.rng.random() < 0.5:
            self.open_question = INTENT_BOT_CHALLENGE
            return UserAct(INTENT_BOT_CHALLENGE)
        self.open_question = INTENT_PRODUCT_QUESTION
        return UserAct(INTENT_PRODUCT_QUESTION, {"product": products})

    def _repeat(self) -> UserAct:
        if self.last_act is not None and not self.last_act.is_terminal:
            return UserAct(self.last_act.intent, dict(self.last_act.slots))
        return self._pop()

    def _pop(self) -> UserAct:
        if not self.agenda:
            return UserAct(INTENT_GOODBYE)
        act = self.agenda.pop()
        if act.intent == INTENT_INFORM and self.agenda and self.agenda[-1].intent == INTENT_INFORM \
                and self.rng.random() < self.persona.verbosity:
            extra = self.agenda.pop()
            act = UserAct(INTENT_INFORM, {**act.slots, **extra.slots})
        return act

    def _say(self, act: UserAct) -> UserAct:
        act.sentiment = self.sentiment
        for slot in act.slots:
            if slot in self.goal.values:
                self.informed.add(slot)
                self.agenda = [a for a in self.agenda if not (a.intent == INTENT_INFORM and set(a.slots) <= self.informed)]
        if act.intent == INTENT_GOODBYE and not self.done:
            self.left = True
        self.last_act = act
        return act

    # -- reactions ------------------------------------------------------------------------------
    def _react(self, act: BotAct) -> bool:
        """Update the agenda for one bot act; True when it answered an open interruption."""
        goal = self.goal
        name = act.action
        if self.open_question and self.answers.get(self.open_question) == name:
            return True
        if act.asked is not None:
            self._react_to_question(act.asked)
            return False
        if act.outcome is not None:
            self._react_to_result(act)
            return False
        if name == "utter_goodbye":
            if not self.done:
                self.left = True
            return False
        if name in ("utter_default", "utter_ask_rephrase", "action_default_fallback"):
            self._hurt(MOOD_FALLBACK)
            if self.last_act is not None and self.last_act.intent == goal.task.intent:
                self._rephrase_request()
            elif self.last_act is not None and not self.last_act.is_terminal:
                self._push(UserAct(self.last_act.intent, dict(self.last_act.slots)))
            return False
        if name == "utter_ask_continue":
            self._push(UserAct(INTENT_AFFIRM))
            return False
        if name == "utter_complaint" and goal.task.requires_human:
            self._push(UserAct(INTENT_HUMAN))
            return False
        if name == "utter_greet" and self.last_act is not None and self.last_act.intent == INTENT_GREET:
            return False
        if name in ("utter_you_are_welcome", "utter_anything_else") and self.done:
            return False
        if name in ("action_deactivate_loop", "utter_form_stopped"):
            if self.last_act is None or self.last_act.intent != INTENT_STOP:
                self._hurt(MOOD_IRRELEVANT)
                self._restate_task()
            return False
        self._hurt(MOOD_IRRELEVANT)
        return False

    def _react_to_question(self, slot: str) -> None:
        goal = self.goal
        self.asked[slot] = self.asked.get(slot, 0) + 1
        if slot in goal.task.confirm_slots:
            self._push(UserAct(INTENT_DENY if goal.keep else INTENT_AFFIRM))
        elif slot.startswith("confirm_"):  # asked to confirm something the shopper never wanted
            self._hurt(MOOD_IRRELEVANT)
            self._push(UserAct(INTENT_DENY))
            self._restate_task()
        elif slot in goal.values:
            if self.asked[slot] > 1 or (slot in self.informed and self.asked[slot] > 1):
                self._hurt(MOOD_REPEAT, bad=self.asked[slot] > 2)
            self._push_inform(slot)
        else:
            self._hurt(MOOD_IRRELEVANT)
            self._restate_task()

    def _react_to_result(self, act: BotAct) -> None:
        goal = self.goal
        outcome = act.outcome
        assert outcome is not None
        used = act.used or {}
        if act.action == goal.task.action:
            if goal.keep:
                if used.get("confirm_cancel") is False:
                    self.done = True
                elif outcome.ok:
                    self.wrong_action = True
                else:
                    self._hurt(MOOD_IRRELEVANT)
                return
            wrong = [s for s in goal.task.required_slots if s in goal.values and used.get(s) != goal.values[s]]
            if not wrong and outcome.ok:
                self.done = True
            elif wrong:
                self._hurt(MOOD_WRONG_RESULT)
                for slot in reversed(wrong):
                    if slot in goal.task.confirm_slots:
                        self._push(UserAct(INTENT_AFFIRM if goal.values[slot] else INTENT_DENY))
                    else:
                        self._push_inform(slot)
            else:
                self._hurt(MOOD_FAILURE)
                self.failed_for_real = True
            return
        if act.action in self.writes and outcome.ok and used.get("confirm_cancel") is not False:
            self.wrong_action = True
            return
        self._hurt(MOOD_IRRELEVANT)
        self._restate_task()
