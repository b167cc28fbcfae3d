"""Every reply speaks English and Chinese: each domain response has a zh variation per English one (same mood
condition, channel, placeholders and button payloads), every response an action sends is in the domain, the
words the actions compute themselves (actions/i18n.py) exist in both languages, and Chinese text around an email
or order number does not spoil it."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import yaml

from actions import constants
from actions.common import parse_email, parse_order_id
from actions.i18n import EN, PHRASES, ZH, day, phrase, state
from actions.orders import status_summary
from bot.nlg import TemplatedNLG

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((REPO_ROOT / "domain.yml").read_text())
RESPONSES: dict[str, list[dict]] = DOMAIN["responses"]
PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_CONDITION = {"type": "slot", "name": "language", "value": "zh"}


def _is_zh(variation: dict) -> bool:
    return ZH_CONDITION in (variation.get("condition") or [])


def _other_conditions(variation: dict) -> list[dict]:
    return [c for c in variation.get("condition") or [] if c != ZH_CONDITION]


def _placeholders(variation: dict) -> set[str]:
    found = set(PLACEHOLDER.findall(variation.get("text") or ""))
    for button in variation.get("buttons") or []:
        found |= set(PLACEHOLDER.findall(button.get("title") or ""))
    return found


def test_language_slot_is_declared() -> None:
    slot = DOMAIN["slots"]["language"]
    assert slot["type"] == "categorical" and slot["values"] == ["en", "zh"]
    assert slot["influence_conversation"] is False and slot["mappings"] == [{"type": "custom"}]


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_every_english_variation_has_a_chinese_twin(name: str) -> None:
    variations = RESPONSES[name]
    english = [v for v in variations if not _is_zh(v)]
    chinese = [v for v in variations if _is_zh(v)]
    assert english and chinese, name
    for en in english:
        twins = [zh for zh in chinese
                 if _other_conditions(zh) == (en.get("condition") or []) and zh.get("channel") == en.get("channel")]
        assert twins, f"{name}: no zh variation for {en.get('condition')} / channel {en.get('channel')}"
        for zh in twins:
            assert CJK.search(zh["text"]), zh["text"]
            assert _placeholders(zh) == _placeholders(en), (name, zh["text"])
            assert [b["payload"] for b in zh.get("buttons") or []] == [b["payload"] for b in en.get("buttons") or []]
            assert all(CJK.search(b["title"]) for b in zh.get("buttons") or [])
            assert zh.get("image") == en.get("image")
    # The English variations come first (the simulator records the first variation's text).
    assert not _is_zh(variations[0])


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_the_bot_picks_the_language_the_shopper_writes(name: str) -> None:
    nlg = TemplatedNLG(RESPONSES, seed=0)
    values = {p: "A12345" for v in RESPONSES[name] for p in _placeholders(v)}
    for _ in range(5):
        assert CJK.search(nlg.generate(name, {"language": "zh"}, **values)["text"]), name
        assert not CJK.search(nlg.generate(name, {"language": "en"}, **values)["text"]), name
        assert not CJK.search(nlg.generate(name, {}, **values)["text"]), name


def test_every_response_the_actions_send_is_in_the_domain() -> None:
    sent = {value for key, value in vars(constants).items() if key.startswith("UTTER_")}
    literal = {m for path in (REPO_ROOT / "actions").glob("*.py")
               for m in re.findall(r"response=\"(utter_\w+)\"", path.read_text())}
    assert sent | literal <= set(RESPONSES)
    # Placeholder values travel as keyword arguments of utter_message (rasa-sdk) and TemplatedNLG.generate.
    reserved = {"text", "image", "json_message", "template", "response", "attachment", "buttons", "elements",
                "custom", "name", "slots", "channel"}
    assert not {p for variations in RESPONSES.values() for v in variations for p in _placeholders(v)} & reserved
    # No action sends hard-coded English text any more, except the per-pick recommendation list.
    for path in (REPO_ROOT / "actions").glob("*.py"):
        calls = re.findall(r"utter_message\((?:\s*)text=", path.read_text())
        assert len(calls) == (1 if path.name == "shopping.py" else 0), path.name


def test_computed_phrases_exist_in_both_languages() -> None:
    assert PHRASES[EN].keys() == PHRASES[ZH].keys()
    fields = string.Formatter()
    for key, english in PHRASES[EN].items():
        names_en = {f for _, f, _, _ in fields.parse(english) if f}
        names_zh = {f for _, f, _, _ in fields.parse(PHRASES[ZH][key]) if f}
        assert names_en == names_zh, key
    assert phrase("fr", "reco_intro") == "Here are my picks for you:"


def test_dates_and_states_in_chinese() -> None:
    assert day("2026-11-27T20:15:41Z") == "Fri 27 Nov"
    assert day("2026-11-27T20:15:41Z", ZH) == "11月27日（周五）"
    assert day(None, ZH) == "日期待定" and day(None) == "an unknown date"
    assert state("shipped") == "shipped" and state("shipped", ZH) == "已发货" and state("lost", ZH) == "lost"


def test_order_status_summary_in_both_languages() -> None:
    order = {"status": "shipped", "shipment": {
        "carrier": "DHL", "tracking_number": "JD0001", "tracking_url": "https://t/JD0001", "delayed": True,
        "estimated_delivery": "2026-11-25T10:00:00Z",
        "events": [{"code": "delayed", "location": "Leipzig", "at": "2026-11-26T08:00:00Z",
                    "description": "Delayed: the parcel missed its connection and will be sent on the next vehicle"}]}}
    assert status_summary(order) == (
        "on its way with DHL (tracking number JD0001: https://t/JD0001). Latest update: Delayed: the parcel missed "
        "its connection and will be sent on the next vehicle (Leipzig, Thu 26 Nov). It was due on Wed 25 Nov and is "
        "running late. I'm sorry about that!")
    assert status_summary(order, ZH) == (
        "已发货，由 DHL 配送（运单号 JD0001：https://t/JD0001）。最新物流：运输延误：包裹错过了中转班次，将随下一班车发出"
        "（Leipzig，11月26日（周四））。原定11月25日（周三）送达，目前有些延误，真的很抱歉！")
    cancelled = {"status": "cancelled", "cancelled_at": "2026-11-20T09:00:00Z",
                 "refunds": [{"amount": 49.5, "status": "pending"}]}
    assert status_summary(cancelled) == "cancelled on Fri 20 Nov; your refund of $49.50 is pending."
    assert status_summary(cancelled, ZH) == "已于11月20日（周五）取消，退款 $49.50 待处理。"
    assert status_summary({"status": "paid"}, ZH).startswith("已付款")


def test_chinese_around_an_email_or_order_number_is_dropped() -> None:
    assert parse_email("我的邮箱是Wang.Lei@example.com。") == "wang.lei@example.com"
    assert parse_email("邮箱：a@b.cn，谢谢") == "a@b.cn"
    assert parse_email("邮箱是@例子") is None
    assert parse_order_id("订单A12345到哪了") == "A12345" and parse_order_id("单号a-48213") == "A48213"


@pytest.mark.parametrize("name", sorted(n for n, vs in RESPONSES.items() if any(_other_conditions(v) for v in vs
                                                                                if _is_zh(v))))
def test_an_upset_chinese_shopper_gets_the_chinese_mood_variation(name: str) -> None:
    nlg = TemplatedNLG(RESPONSES, seed=0)
    for variation in (v for v in RESPONSES[name] if _is_zh(v) and _other_conditions(v)):
        mood = {c["name"]: c["value"] for c in _other_conditions(variation)}
        values = {p: "A12345" for p in _placeholders(variation)}
        for _ in range(5):  # never the English mood variation, never the zh one without the mood
            picked = nlg.generate(name, {"language": "zh", **mood}, **values)["text"]
            assert picked == variation["text"].replace("{order_id}", "A12345"), (name, mood, picked)
