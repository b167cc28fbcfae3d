"""PII masking in Chinese and in national phone layouts: script-aware boundaries, full-width forms,
non-ASCII e-mail addresses, lower-case IBANs, and the copies of a value in entities and slots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from privacy_support import DOMAIN, privacy_agent

from bot.channels.base import UserMessage
from bot.privacy.pii import EMAIL, IBAN, PHONE, PiiMasker, PrivacySettings, ascii_forms, find_pii, mask_text
from bot.privacy.store import MaskingTrackerStore
from bot.processor import MessageProcessor
from bot.server import Settings, create_app
from bot.stores.lock_store import InMemoryLockStore
from bot.stores.tracker_store import InMemoryTrackerStore
from bot.training_data import EntitySpan, NLUData, NLUExample
from nlu.pipeline import NLUPipeline
from nlu.regex_extractor import RegexEntityExtractor

PHONE_NUMBER = "13912345678"


@pytest.mark.parametrize(("text", "masked"), [
    # Chinese mobiles glued to Chinese text, bare and grouped
    ("我的手机号是13912345678谢谢", "我的手机号是[PHONE]谢谢"),
    ("手机：139 1234 5678。", "手机：[PHONE]。"),
    ("电话138-1234-5678，谢谢", "电话[PHONE]，谢谢"),
    ("+86 139 1234 5678", "[PHONE]"),
    ("联系我+8613912345678吧", "联系我[PHONE]吧"),
    ("86 139 1234 5678", "[PHONE]"),
    # full-width digits and plus sign (as typed with a Chinese input method)
    ("１３９１２３４５６７８", "[PHONE]"),
    ("电话１３９１２３４５６７８谢谢", "电话[PHONE]谢谢"),
    ("电话：＋８６ １３９ １２３４ ５６７８", "电话：[PHONE]"),
    # national layouts
    ("020 7946 0958", "[PHONE]"),
    ("call 020 7946 0958 after six", "call [PHONE] after six"),
    ("06 12 34 56 78", "[PHONE]"),
    ("appelez le 06.12.34.56.78 svp", "appelez le [PHONE] svp"),
    ("+44 7911 123456", "[PHONE]"),
    ("49 151 23456789", "[PHONE]"),
    ("ruf an: 030 1234567", "ruf an: [PHONE]"),
    # the formats that worked before still do
    ("call +44 20 7946 0958", "call [PHONE]"),
    ("call +1 (415) 555-2671", "call [PHONE]"),
    ("(415) 555-2671", "[PHONE]"),
    ("415-555-2671", "[PHONE]"),
    ("call 0049 30 1234567", "call [PHONE]"),
    # e-mail addresses with non-ASCII local parts or domains, or glued to Chinese text
    ("王磊@例子.中国", "[EMAIL]"),
    ("josé@exämple.com", "[EMAIL]"),
    ("mail josé@exämple.com today", "mail [EMAIL] today"),
    ("邮箱是wang.lei@example.com谢谢", "邮箱是[EMAIL]谢谢"),
    ("我的邮箱是12345678@qq.com，谢谢", "我的邮箱是[EMAIL]，谢谢"),
    ("ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "[EMAIL]"),
    ("邮箱：王磊@例子.com", "邮箱：[EMAIL]"),
    # IBANs in lower case, grouped or compact, and followed by words
    ("de89 3704 0044 0532 0130 00", "[IBAN]"),
    ("iban: de89370400440532013000.", "iban: [IBAN]."),
    ("gb82 west 1234 5698 7654 32 please", "[IBAN] please"),
    ("DE89 3704 0044 0532 0130 00 for the refund", "[IBAN] for the refund"),
    ("账号DE89370400440532013000谢谢", "账号[IBAN]谢谢"),
    # the other kinds glued to Chinese text
    ("身份证11010519491231002X谢谢", "身份证[NATIONAL_ID]谢谢"),
    ("卡号4111111111111111，谢谢", "卡号[CARD]，谢谢"),
    ("订单A12345没收到，我的手机是13912345678", "订单A12345没收到，我的手机是[PHONE]"),
])
def test_pii_in_chinese_and_national_formats_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    # order ids: digits glued to ASCII letters are no boundary
    "A12345", "订单A12345", "订单A12345没收到", "订单号：A12345，谢谢", "A13912345678", "order A13912345678",
    "订单号SF1234567890123", "型号QN55Q80B", "1391234567890",  # 13 digits: no mobile inside
    # 5-digit order numbers, quantities, postcodes
    "订单12345", "我要退货，订单号是12345", "买3件XL", "数量：10", "邮编100080", "邮编 200120", "75001 Paris",
    # prices
    "price 89.90", "价格89.90元", "¥1299", "共3件，总价269.70", "total was 3,123.45 EUR", "价格1 234 567 890元",
    # dates and times
    "2026-12-07", "2026-12-07送到", "2026年12月7日到货", "12/07/2026", "07.12.2026 14:30", "2026-12-07 13:45:00",
    "10:30-12:00 送货",
    # sizes, SKUs, versions, other numbers
    "尺码38 40 42 44 46 48有吗", "SKU 12-3456", "version 1.2.3.4", "ip 192.168.1.1", "my JD order 123456789012",
    # lower-case lookalikes of an IBAN
    "de12 is a code", "it12 pieces of cake and some more words here", "model ab12 cd34 ef56 gh78 ij90 kl12",
    "de89 3704 0044 0532 0130 02",  # fails mod 97 (and its digits the Luhn check)
    # an "@" that is no address
    "我@你", "meet @ 3pm", "user@localhost",
])
def test_shop_talk_is_kept(text: str) -> None:
    assert find_pii(text) == []
    assert mask_text(text) == text


def test_values_are_the_original_text_at_the_same_offsets() -> None:
    text = "电话１３９ １２３４ ５６７８，邮箱ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert len(ascii_forms(text)) == len(text)
    matches = find_pii(text)
    assert [(m.kind, m.value) for m in matches] == [(PHONE, "１３９ １２３４ ５６７８"), (EMAIL, "ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ")]
    assert all(text[m.start:m.end] == m.value for m in matches)
    assert [(m.kind, m.value) for m in find_pii("iban gb82 west 1234 5698 7654 32 please")] == [
        (IBAN, "gb82 west 1234 5698 7654 32")]


def test_lower_case_ibans_need_a_registry_length_and_groups_of_four() -> None:
    assert mask_text("de89 3704 0044 0532 0130 00") == "[IBAN]"
    assert mask_text("de8937 0400 4405 3201 3000") == "de8937 0400 4405 3201 3000"  # not grouped by four
    assert mask_text("DE8937 0400 4405 3201 3000") == "[IBAN]"  # upper case: any spacing, as before
    assert mask_text("de89 3704 0044 0532 0130 0012") == "de89 3704 0044 0532 0130 0012"  # too long for DE


# -- the copies of a value: entities and slots ----------------------------------------------------

def test_entity_and_slot_copies_are_masked_like_the_text() -> None:
    masker = PiiMasker()
    text = "订单A12345没收到，我的手机是139 1234 5678"
    phone_start = text.index("139")
    user = {"event": "user", "text": text, "parse_data": {"text": text, "entities": [
        {"entity": "order_id", "start": 2, "end": 8, "value": "A12345"},
        # an extractor that took only a part of the number, or normalised it, or sent it as a JSON number
        {"entity": "phone", "start": phone_start + 4, "end": len(text), "value": "1234 5678", "text": "1234 5678"},
        {"entity": "phone", "start": phone_start, "end": len(text), "value": PHONE_NUMBER},
        {"entity": "phone", "value": int(PHONE_NUMBER)},
        {"entity": "price", "start": 0, "end": 1, "value": 89.9},
    ]}}
    events = [user, {"event": "slot", "name": "order_id", "value": "A12345"},
              {"event": "slot", "name": "phone", "value": "1234 5678"},
              {"event": "slot", "name": "phone", "value": int(PHONE_NUMBER)},
              {"event": "slot", "name": "contacts", "value": ["1234 5678", "a1@example.com", 3]},
              {"event": "slot", "name": "quantity", "value": 3}]
    masked = masker.events(events)
    entities = masked[0]["parse_data"]["entities"]
    assert masked[0]["text"] == masked[0]["parse_data"]["text"] == "订单A12345没收到，我的手机是[PHONE]"
    assert [e["value"] for e in entities] == ["A12345", "[PHONE]", "[PHONE]", "[PHONE]", 89.9]
    assert entities[1]["text"] == "[PHONE]"
    assert [e.get("value") for e in masked[1:]] == ["A12345", "[PHONE]", "[PHONE]", ["[PHONE]", "[EMAIL]", 3], 3]
    assert PHONE_NUMBER not in json.dumps(masked) and "5678" not in json.dumps(masked)
    assert user["parse_data"]["entities"][1]["value"] == "1234 5678"  # the original is untouched
    # a payload's entities all span its JSON: each is masked by its own value, the order id is kept
    payload = '/inform{"phone": 13912345678, "order_id": "A12345"}'
    start, end = payload.index("{"), len(payload)
    masked_payload = masker.event({"event": "user", "text": payload, "parse_data": {"text": payload, "entities": [
        {"entity": "phone", "start": start, "end": end, "value": int(PHONE_NUMBER)},
        {"entity": "order_id", "start": start, "end": end, "value": "A12345"}]}})
    assert [e["value"] for e in masked_payload["parse_data"]["entities"]] == ["[PHONE]", "A12345"]
    assert masked_payload["text"] == '/inform{"phone": [PHONE], "order_id": "A12345"}'


def test_keep_slots_still_win_over_copies() -> None:
    masker = PiiMasker(PrivacySettings.from_config({"keep_slots": ["phone"]}))
    text = "手机139 1234 5678"
    masked = masker.events([
        {"event": "user", "text": text, "parse_data": {"text": text, "entities": [
            {"entity": "phone", "start": 7, "end": len(text), "value": "1234 5678"}]}},
        {"event": "slot", "name": "phone", "value": "1234 5678"}])
    assert masked[0]["parse_data"]["entities"][0]["value"] == "[PHONE]"
    assert masked[1]["value"] == "1234 5678"


# -- end to end: the server's stored tracker -------------------------------------------------------

def _regex_nlu() -> NLUPipeline:
    """A pipeline with only a regex extractor (no training of a network): phone and order id entities."""
    example = NLUExample("订单A12345，手机13912345678", "inform",
                         [EntitySpan(2, 8, "A12345", "order_id"), EntitySpan(11, 22, PHONE_NUMBER, "phone")])
    data = NLUData(examples=[example], regexes=[("order_id", r"[A-Z]\d{5}"), ("phone", r"1[3-9]\d{9}")])
    extractor = RegexEntityExtractor(case_sensitive=True, use_word_boundaries=False).train(data)
    return NLUPipeline([extractor], language="zh")


async def test_chinese_message_is_stored_without_the_phone_anywhere(aiohttp_client: Any) -> None:
    agent = privacy_agent({"inform": []})
    agent.interpreter = _regex_nlu()
    inner = InMemoryTrackerStore(DOMAIN)
    settings = Settings(agent=agent, enable_api=True, tracker_store=inner, lock_store=InMemoryLockStore())
    client = await aiohttp_client(create_app(settings))
    for text in ["订单A12345没收到，我的手机是13912345678",
                 '/inform{"phone": 13912345678, "order_id": "A12345"}',  # a button payload with a JSON number
                 "电话１３９１２３４５６７８"]:  # full-width digits, not an entity for the regex extractor
        response = await client.post("/webhooks/rest/webhook", json={"sender": "zh1", "message": text})
        assert response.status == 200

    stored = inner._store["zh1"]
    events = json.loads(stored)
    users = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in users] == ["订单A12345没收到，我的手机是[PHONE]",
                                          '/inform{"phone": [PHONE], "order_id": "A12345"}', "电话[PHONE]"]
    entities = [(e["entity"], e["value"]) for u in users for e in u["parse_data"]["entities"]]
    assert entities == [("order_id", "A12345"), ("phone", "[PHONE]"), ("phone", "[PHONE]"), ("order_id", "A12345")]
    slots = [(e["name"], e["value"]) for e in events if e["event"] == "slot"]
    assert ("phone", "[PHONE]") in slots and ("order_id", "A12345") in slots
    assert all(value in ("[PHONE]", "A12345") for _, value in slots)
    for raw in (PHONE_NUMBER, "１３９１２３４５６７８"):
        assert raw not in stored
    assert "A12345" in stored
    tracker = await (await client.get("/conversations/zh1/tracker")).json()
    assert tracker["slots"]["phone"] == "[PHONE]" and tracker["slots"]["order_id"] == "A12345"
    assert PHONE_NUMBER not in json.dumps(tracker, ensure_ascii=False)


async def test_the_turn_in_flight_keeps_the_real_phone() -> None:
    """Masking is of what is stored: the processor's own tracker (what the action server gets) is intact."""
    agent = privacy_agent({"inform": []})
    agent.interpreter = _regex_nlu()
    inner = InMemoryTrackerStore(DOMAIN)
    processor = MessageProcessor(agent, MaskingTrackerStore(inner, PiiMasker()), InMemoryLockStore())
    tracker = await processor.handle_message(UserMessage("订单A12345没收到，我的手机是13912345678", "zh2"))
    assert tracker.get_slot("phone") == PHONE_NUMBER and tracker.get_slot("order_id") == "A12345"
    assert PHONE_NUMBER not in inner._store["zh2"] and "A12345" in inner._store["zh2"]
    live = await processor.tracker_store.retrieve_live("zh2")
    assert live is not None and live.get_slot("phone") == PHONE_NUMBER  # in memory only, for the next turn
