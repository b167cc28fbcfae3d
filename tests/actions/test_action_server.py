"""The real rasa-sdk action server on loopback, calling the real order and recommendation services.

Requests follow Rasa's action-server protocol (``POST /webhook`` with next_action, sender_id, tracker, domain,
version); after cancel and return the order database itself is checked. The actions answer with domain responses
(``response`` + placeholder values); ``replies`` fills them in from domain.yml as the bot does, in English or, for
a shopper whose ``language`` slot is ``zh``, in Chinese.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from pathlib import Path

import pytest
import yaml

from bot.nlg import TemplatedNLG

pytestmark = pytest.mark.timeout(180)

MIA = {"order_id": "A48213", "email": "mia.k@gmail.com"}

_NLG = TemplatedNLG(yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text())["responses"],
                    seed=0)
_MESSAGE_KEYS = ("text", "buttons", "elements", "custom", "image", "attachment", "response", "template")


def db_rows(db_path: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db_path) as connection:
        return connection.execute(sql, params).fetchall()


def replies(body: dict, language: str | None = None) -> list[dict]:
    """The messages the shopper sees: a ``response`` filled in from the domain with the values the action sent
    (as bot/actions/remote.py does), any other message as it is."""
    messages = []
    for reply in body["responses"]:
        name = reply.get("response") or reply.get("template")
        if not name:
            messages.append(reply)
            continue
        values = {k: v for k, v in reply.items() if k not in _MESSAGE_KEYS}
        message = _NLG.generate(name, {"language": language}, **values)
        assert message is not None, f"the action sent response {name!r}, which domain.yml lacks"
        messages.append(message)
    return messages


def texts(body: dict, language: str | None = None) -> str:
    return "\n".join(r.get("text") or "" for r in replies(body, language))


def slot_events(body: dict) -> dict:
    return {e["name"]: e["value"] for e in body["events"] if e["event"] == "slot"}


def test_every_domain_action_is_served(stack, domain) -> None:
    with urllib.request.urlopen(f"{stack.actions_url}/actions") as reply:
        served = {a["name"] for a in json.loads(reply.read())}
    custom = {name if isinstance(name, str) else next(iter(name)) for name in domain["actions"]}
    assert custom <= served


def test_check_order_status(stack, call) -> None:
    status, body = call(stack.actions_url, "action_check_order_status", MIA)
    assert status == 200
    response = body["responses"][0]
    assert response["response"] == "utter_order_status" and response["order_id"] == "A48213"
    assert "on its way with" in response["order_status"] and "tracking number" in response["order_status"]
    assert slot_events(body) == {"order_status": "shipped"}


def test_lookup_with_someone_elses_email_is_refused(stack, call) -> None:
    status, body = call(stack.actions_url, "action_check_order_status",
                        {"order_id": "A48213", "email": "jane.doe@example.com"})
    assert status == 200
    assert "couldn't find an order A48213" in texts(body)
    assert "tracking" not in json.dumps(body["responses"]).lower()
    assert slot_events(body) == {"order_id": None, "email": None}


def test_cancel_writes_once_to_the_database(stack, call) -> None:
    slots = {"order_id": "A66001", "email": "tom.b@outlook.com", "confirm_cancel": True}
    status, body = call(stack.actions_url, "action_cancel_order", slots, message_id="cancel-turn")
    assert status == 200 and "order A66001 is cancelled" in texts(body)
    assert slot_events(body)["order_status"] == "cancelled"
    # Rasa retries the same turn (e.g. after a timeout): the idempotency key makes it a replay, not a second write.
    status, again = call(stack.actions_url, "action_cancel_order", slots, message_id="cancel-turn")
    assert status == 200 and texts(again) == texts(body)
    assert db_rows(stack.db_path, "SELECT status FROM orders WHERE id = ?", "A66001") == [("cancelled",)]
    assert db_rows(stack.db_path, "SELECT count(*) FROM refunds WHERE order_id = ?", "A66001") == [(1,)]
    assert db_rows(stack.db_path, "SELECT count(*) FROM order_events WHERE order_id = ? AND kind = 'cancelled'",
                   "A66001") == [(1,)]
    # A new turn asking again gets the domain answer, still without writing.
    status, later = call(stack.actions_url, "action_cancel_order", slots, message_id="another-turn")
    assert "already cancelled" in texts(later)
    assert db_rows(stack.db_path, "SELECT count(*) FROM refunds WHERE order_id = ?", "A66001") == [(1,)]


def test_cancel_declined_or_shipped_changes_nothing(stack, call) -> None:
    _, kept = call(stack.actions_url, "action_cancel_order", {**MIA, "confirm_cancel": False})
    assert "haven't touched" in texts(kept)
    _, shipped = call(stack.actions_url, "action_cancel_order", {**MIA, "confirm_cancel": True})
    assert "already shipped" in texts(shipped)
    assert db_rows(stack.db_path, "SELECT status FROM orders WHERE id = ?", "A48213") == [("shipped",)]


def test_return_opens_one_return_in_the_database(stack, call) -> None:
    slots = {"order_id": "A40404", "email": "raj.patel@yahoo.com", "return_reason": "too small"}
    status, body = call(stack.actions_url, "action_start_return", slots, message_id="return-turn")
    assert status == 200 and "Your return for order A40404 is open" in texts(body)
    assert "label" in texts(body)
    call(stack.actions_url, "action_start_return", slots, message_id="return-turn")
    assert db_rows(stack.db_path, "SELECT status, reason FROM returns WHERE order_id = ?", "A40404") == [
        ("requested", "too small")]
    _, closed = call(stack.actions_url, "action_start_return",
                     {"order_id": "A12345", "email": "alex@example.com", "return_reason": "changed my mind"})
    assert "return window" in texts(closed) and replies(closed)[0]["buttons"][0]["payload"] == "/human_agent"
    assert db_rows(stack.db_path, "SELECT count(*) FROM returns WHERE order_id = ?", "A12345") == [(0,)]


def test_refund_status_and_address_change(stack, call) -> None:
    _, refund = call(stack.actions_url, "action_refund_status", {"order_id": "A39481", "email": "jane.doe@example.com"})
    assert "refund of $449.99 for order A39481 is processing" in texts(refund)
    _, asked = call(stack.actions_url, "action_refund_status", {"order_id": "A39481"})
    assert asked["responses"][0]["response"] == "utter_ask_email"
    new = "Flat 3, 18 Rose Lane, Manchester M1 2AB"
    _, moved = call(stack.actions_url, "action_change_address",
                    {"order_id": "A40112", "email": "chloe_w@icloud.com", "new_address": new})
    assert f"will now be delivered to {new}" in texts(moved)
    assert db_rows(stack.db_path, "SELECT shipping_address FROM orders WHERE id = ?", "A40112") == [(new,)]


@pytest.mark.parametrize("payload", ["A12345'; DROP TABLE orders; --", "' OR '1'='1", "A48213\" OR 1=1 --",
                                     "A4821' UNION SELECT email FROM customers --"])
def test_injection_in_order_ids_is_harmless(stack, call, payload) -> None:
    before = db_rows(stack.db_path, "SELECT count(*) FROM orders")
    status, body = call(stack.actions_url, "validate_track_form", {"order_id": payload},
                        active_loop="track_form", set_this_turn={"order_id": payload})
    assert status == 200
    value = slot_events(body)["order_id"]
    # Either rejected, or reduced to the clean order number inside it: the SQL never becomes a slot value.
    assert value is None or re.fullmatch(r"A\d{5}", value), value
    if value is None:
        assert "doesn't look like an order number" in texts(body)
    # Even if a raw value reaches the lookup action, it is refused without data and never becomes a query.
    status, body = call(stack.actions_url, "action_check_order_status", {"order_id": payload, "email": "x@y.org"})
    assert status == 200 and ("Which order" in texts(body) or "couldn't find an order" in texts(body))
    assert db_rows(stack.db_path, "SELECT count(*) FROM orders") == before
    assert db_rows(stack.db_path, "SELECT status FROM orders WHERE id = 'A48213'") == [("shipped",)]


def test_form_validation_checks_that_order_and_email_belong_together(stack, call) -> None:
    _, ok = call(stack.actions_url, "validate_track_form", {"order_id": "A48213", "email": "Mia.K@gmail.com"},
                 active_loop="track_form", set_this_turn={"email": "Mia.K@gmail.com"})
    assert slot_events(ok) == {"email": "mia.k@gmail.com"}
    _, wrong = call(stack.actions_url, "validate_track_form", {"order_id": "A48213", "email": "jane.doe@example.com"},
                    active_loop="track_form", set_this_turn={"email": "jane.doe@example.com"})
    assert slot_events(wrong) == {"order_id": None, "email": None}
    _, normalised = call(stack.actions_url, "validate_track_form", {"order_id": "order a-48213"},
                         active_loop="track_form", set_this_turn={"order_id": "order a-48213"})
    assert slot_events(normalised) == {"order_id": "A48213"}


def test_recommendations_are_personal(stack, call) -> None:
    status, body = call(stack.actions_url, "action_recommend_products", {"email": "mia.k@gmail.com"})
    assert status == 200
    assert "Since you bought the Samsung Galaxy S24" in texts(body)
    custom = next(r["custom"] for r in body["responses"] if r.get("custom"))
    assert len(custom["recommendations"]) == 3 and custom["strategy"] == "two_tower"
    _, shoes = call(stack.actions_url, "action_recommend_products", {"category": "running shoes", "brand": "Nike"},
                    sender="brand-new-shopper")
    picks = next(r["custom"] for r in shoes["responses"] if r.get("custom"))["recommendations"]
    assert {p["category"] for p in picks} == {"running shoes"} and {p["brand"] for p in picks} == {"Nike"}


def _picks(body: dict) -> list[dict]:
    return next(r["custom"] for r in body["responses"] if r.get("custom"))["recommendations"]


def test_a_recommendation_answers_this_turns_request_not_stale_slots(stack, call) -> None:
    """The slots still hold the last search and the bot's own first pick; the shopper now asks for phones."""
    stale = {"category": "running shoes", "brand": "Hoka", "product": "Hoka Clifton 9"}
    shoes = [{"entity": "category", "value": "running shoes", "start": 13, "end": 26},
             {"entity": "category", "value": "shoes", "start": 21, "end": 26}]
    _, body = call(stack.actions_url, "action_recommend_products", stale, sender="overlap", intent="recommend_product",
                   text="recommend me running shoes", entities=shoes)
    assert texts(body).startswith('Here\'s what I\'d suggest for "running shoes":')
    phones = [{"entity": "category", "value": "phones", "start": 11, "end": 17}]
    _, body = call(stack.actions_url, "action_recommend_products", stale, sender="switcher", intent="recommend_product",
                   text="what about phones", entities=phones)
    assert {p["category"] for p in _picks(body)} == {"phone"}
    assert texts(body).startswith('Here\'s what I\'d suggest for "phones":')
    black = [{"entity": "color", "value": "black", "start": 3, "end": 8}]
    _, refined = call(stack.actions_url, "action_recommend_products", {"category": "running shoes", "product": "X"},
                      sender="refiner", intent="inform", text="in black?", entities=black)
    assert {p["category"] for p in _picks(refined)} == {"running shoes"}
    assert texts(refined).startswith('Here\'s what I\'d suggest for "black running shoes":')


def test_accessories_after_a_phone_are_accessories_in_both_languages(stack, call) -> None:
    # "I just bought a new phone. What accessories...": the lookup and the model both found the phone
    entities = [{"entity": "category", "value": "phones", "start": 20, "end": 25},
                {"entity": "category", "value": "phone", "start": 20, "end": 25},
                {"entity": "category", "value": "accessories", "start": 32, "end": 43}]
    for sender, extra, shown in (("acc-en", {}, '"phones accessories"'), ("acc-zh", {"language": "zh"}, "「手机 配件」")):
        _, body = call(stack.actions_url, "action_recommend_products", {"category": "accessories", **extra},
                       sender=sender, intent="recommend_product", entities=entities)
        categories = {p["category"] for p in _picks(body)}
        assert categories and "phone" not in categories, categories
        assert categories <= {"phone case", "screen protector", "charger", "power bank", "earbuds"}
        assert shown in texts(body, extra.get("language"))


def test_product_info_and_handoff(stack, call) -> None:
    _, info = call(stack.actions_url, "action_product_info", {"product": "Pegasus 40"})
    assert "Nike Pegasus 40 (running shoes) costs $129.99" in texts(info)
    _, handoff = call(stack.actions_url, "action_handoff", {"sentiment": "angry", "order_id": "A48213"},
                      intent="human_agent")
    assert handoff["responses"][0]["response"] == "utter_handoff"
    payload = next(r["custom"] for r in handoff["responses"] if r.get("custom"))["handoff"]
    assert payload["sentiment"] == "angry" and payload["reason"] == "human_agent"
    assert [e["event"] for e in handoff["events"]] == ["pause"]


def test_a_chinese_shopper_gets_chinese_replies(stack, call) -> None:
    zh = {"language": "zh"}
    _, status = call(stack.actions_url, "action_check_order_status", {**MIA, **zh})
    response = status["responses"][0]
    assert response["response"] == "utter_order_status"
    assert response["order_status"].startswith("已发货，由 ") and "运单号" in response["order_status"]
    assert texts(status, "zh").startswith("订单 A48213：已发货")
    _, wrong = call(stack.actions_url, "action_check_order_status",
                    {"order_id": "A48213", "email": "jane.doe@example.com", **zh})
    assert "没有找到与这个邮箱或手机号匹配的订单 A48213" in texts(wrong, "zh")
    _, refund = call(stack.actions_url, "action_refund_status",
                     {"order_id": "A39481", "email": "jane.doe@example.com", **zh})
    assert "订单 A39481 的退款 $449.99 目前处理中" in texts(refund, "zh") and "原支付账户" in texts(refund, "zh")
    _, kept = call(stack.actions_url, "action_cancel_order", {**MIA, "confirm_cancel": False, **zh})
    assert texts(kept, "zh") == "好的，订单 A48213 我没有动，一切保持原样。"
    _, shipped = call(stack.actions_url, "action_cancel_order", {**MIA, "confirm_cancel": True, **zh})
    assert "订单 A48213 目前已发货，已经无法取消了" in texts(shipped, "zh")
    _, info = call(stack.actions_url, "action_product_info", {"product": "Pegasus 40", **zh})
    assert "Nike Pegasus 40（跑鞋）售价 $129.99" in texts(info, "zh")
    _, picks = call(stack.actions_url, "action_recommend_products", {"category": "running shoes", "brand": "Nike", **zh},
                    sender="brand-new-shopper-zh")
    shown = replies(picks, "zh")[0]
    assert shown["text"].startswith("按「Nike 跑鞋」为您挑了这几款：")
    assert "1. 您可能喜欢的跑鞋：Nike " in shown["text"]  # the pitch is written in Chinese too
    assert all(button["title"].startswith("了解") for button in shown["buttons"])
    # The request to the recommender stays in the catalog's words.
    chosen = next(r["custom"] for r in picks["responses"] if r.get("custom"))["recommendations"]
    assert {p["category"] for p in chosen} == {"running shoes"}
    _, asked = call(stack.actions_url, "action_product_info", zh)
    assert texts(asked, "zh") == "请问您想了解哪款商品？"


def test_unknown_action_is_a_404(stack, call) -> None:
    status, body = call(stack.actions_url, "action_does_not_exist", {})
    assert status == 404 and body["action_name"] == "action_does_not_exist"


@pytest.mark.parametrize("action, slots", [
    ("action_check_order_status", MIA),
    ("action_cancel_order", {**MIA, "confirm_cancel": True}),
    ("action_start_return", {"order_id": "A40404", "email": "raj.patel@yahoo.com", "return_reason": "too small"}),
    ("action_refund_status", MIA),
    ("action_change_address", {**MIA, "new_address": "1 High Street, London E1 6AN"}),
    ("action_recommend_products", {"category": "phone"}),
    ("action_product_info", {"product": "Pegasus 40"}),
])
def test_backend_down_is_answered_politely_with_a_human_offered(dead_stack, call, action, slots) -> None:
    status, body = call(dead_stack, action, slots)
    assert status == 200
    reply = replies(body)[0]
    assert "can't reach our" in reply["text"] and "colleague" in reply["text"]
    assert {"title": "Talk to a person", "payload": "/human_agent"} in reply["buttons"]
    # The server is still up for the next call.
    assert call(dead_stack, "action_handoff", {})[0] == 200
    # A Chinese shopper hears the same in Chinese, the system named in Chinese too.
    _, body = call(dead_stack, action, {**slots, "language": "zh"})
    reply = replies(body, "zh")[0]
    assert "暂时连接不上" in reply["text"] and "人工客服" in reply["text"]
    assert "order system" not in reply["text"] and "product" not in reply["text"]
    assert {"title": "转人工客服", "payload": "/human_agent"} in reply["buttons"]


def test_form_validation_tolerates_a_down_backend(dead_stack, call) -> None:
    status, body = call(dead_stack, "validate_track_form", {"order_id": "A48213", "email": "mia.k@gmail.com"},
                        active_loop="track_form", set_this_turn={"email": "mia.k@gmail.com"})
    assert status == 200 and slot_events(body) == {"email": "mia.k@gmail.com"}
