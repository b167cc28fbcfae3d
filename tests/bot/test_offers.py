"""A worded "yes" or "no" answers the offer the bot just made (``offers:`` in endpoints.yml)."""

from __future__ import annotations

from typing import Any

import pytest
from dialogue_support import SHOP_DOMAIN, ScriptedPolicy, shop_agent

from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.offers import OfferSettings
from bot.processor import MessageProcessor
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore

OFFER = "A colleague can check whether a warranty claim is possible."
RESPONSES = {
    **SHOP_DOMAIN["responses"],
    "utter_offer": [{"text": OFFER, "buttons": [{"title": "Talk to a person", "payload": "/human_agent"},
                                                {"title": "No, thanks", "payload": "/goodbye"}]}],
    "utter_yes_no": [{"text": "Shall I cancel it?", "buttons": [{"title": "Yes", "payload": "/affirm"},
                                                                {"title": "No", "payload": "/deny"}]}],
    "utter_bye": [{"text": "Bye!"}],
    "utter_what": [{"text": "Sorry, yes to what?"}],
    "utter_ok": [{"text": "OK."}],
}
POLICY = ScriptedPolicy(after_intent={
    "complaint": ["utter_offer"], "inform": ["utter_yes_no"], "human_agent": ["utter_handoff"],
    "goodbye": ["utter_bye"], "affirm": ["utter_what"], "deny": ["utter_ok"], "greet": ["utter_greet"]})


def processor(offers: OfferSettings) -> MessageProcessor:
    agent = shop_agent(POLICY, intents=[*SHOP_DOMAIN["intents"], "goodbye"], responses=RESPONSES)
    return MessageProcessor(agent, InMemoryTrackerStore(agent.domain), InMemoryLockStore(), offers=offers)


def nlu(text: str, intent: str) -> dict[str, Any]:
    return {"text": text, "intent": {"name": intent, "confidence": 0.93},
            "intent_ranking": [{"name": intent, "confidence": 0.93}], "entities": []}


async def turn(bot: MessageProcessor, text: str, intent: str | None = None) -> list[str]:
    channel = CollectingOutputChannel()
    await bot.handle_message(UserMessage(text, "shopper", parse_data=nlu(text, intent) if intent else None), channel)
    return [m.get("text", "") for m in channel.messages]


ON = OfferSettings.from_config({"accept": ["affirm"], "decline": ["deny"]})


@pytest.mark.parametrize(("answer", "intent", "reply"), [
    ("yes please", "affirm", "Connecting you to a human."),
    ("no thanks", "deny", "Bye!"),
])
async def test_a_worded_answer_takes_the_offers_button(answer: str, intent: str, reply: str) -> None:
    bot = processor(ON)
    assert await turn(bot, "/complaint") == [OFFER]
    assert await turn(bot, answer, intent) == [reply]
    user = [e for e in (await bot.get_tracker("shopper")).events if e["event"] == "user"][-1]
    assert user["text"] == answer  # what the shopper typed is kept, and what was read is recorded
    assert user["parse_data"]["kefu_offer"]["answered"] == intent


async def test_nothing_changes_off_by_default_for_plain_yes_no_questions_or_later_turns() -> None:
    default = processor(OfferSettings())
    await turn(default, "/complaint")
    assert await turn(default, "yes please", "affirm") == ["Sorry, yes to what?"]  # Rasa's behaviour
    bot = processor(ON)
    assert await turn(bot, "/inform") == ["Shall I cancel it?"]
    assert await turn(bot, "yes", "affirm") == ["Sorry, yes to what?"]  # the first button is /affirm itself
    await turn(bot, "/complaint")
    await turn(bot, "/greet")
    assert await turn(bot, "yes", "affirm") == ["Sorry, yes to what?"]  # the offer is no longer on the table
    await turn(bot, "/complaint")
    assert await turn(bot, "/affirm") == ["Sorry, yes to what?"]  # a payload is read as sent


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="offers.accept"):
        OfferSettings.from_config({"accept": 3})
    assert OfferSettings.from_config(True).enabled and not OfferSettings.from_config(None).enabled
