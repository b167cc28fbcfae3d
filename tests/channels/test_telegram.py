"""The Telegram channel: Bot API updates in, Bot API calls out (to a local recorder)."""

from __future__ import annotations

from typing import Any

import pytest
from channel_support import RecordingApi, build_app, size_button, user_texts

from bot.errors import KefuError
from bot.server import Settings, create_app

TOKEN = "123456:TEST-token"
SECRET = "tg-secret-0123456789"


@pytest.fixture
async def telegram(aiohttp_client: Any, aiohttp_server: Any) -> Any:
    api = RecordingApi()
    server = await aiohttp_server(api.app())
    app, store = build_app({"telegram": {
        "access_token": TOKEN, "verify": "kefu_test_bot", "webhook_url": "https://shop.example/webhooks/telegram/webhook",
        "secret_token": SECRET, "api_base_url": str(server.make_url("")).rstrip("/")}})
    client = await aiohttp_client(app)

    async def post(update: dict[str, Any], secret: str | None = SECRET) -> Any:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await client.post("/webhooks/telegram/webhook", json=update, headers=headers)

    return post, api, store, client


def text_update(text: str, chat_id: int = 777, update_id: int = 1) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_700_000_000, "text": text,
        "from": {"id": chat_id, "is_bot": False, "first_name": "Mia", "username": "mia"},
        "chat": {"id": chat_id, "type": "private", "first_name": "Mia"}}}


def button_update(data: str, chat_id: int = 777, query_id: str = "cbq-1") -> dict[str, Any]:
    return {"update_id": 9, "callback_query": {
        "id": query_id, "chat_instance": "ci", "data": data,
        "from": {"id": chat_id, "is_bot": False, "first_name": "Mia"},
        "message": {"message_id": 5, "date": 1_700_000_000, "text": "Shall I look up your order?",
                    "chat": {"id": chat_id, "type": "private"}}}}


async def test_text_message_is_answered_with_send_message(telegram: Any) -> None:
    post, api, store, _ = telegram
    response = await post(text_update("/greet"))
    assert response.status == 200
    assert [(c["method"], c["path"], c["json"]) for c in api.calls] == [
        ("POST", f"/bot{TOKEN}/sendMessage", {"chat_id": "777", "text": "Hi from Telegram!"})]  # the telegram variant
    assert await user_texts(store, "777") == ["/greet"]


async def test_buttons_become_an_inline_keyboard_and_a_press_is_a_payload(telegram: Any) -> None:
    post, api, store, _ = telegram
    await post(text_update("/track_order"))
    assert api.bodies("/sendMessage") == [{"chat_id": "777", "text": "Shall I look up your order?", "reply_markup": {
        "inline_keyboard": [[{"text": "Yes please", "callback_data": "/affirm"},
                             {"text": "No thanks", "callback_data": "/deny"}]]}}]
    api.calls.clear()
    assert (await post(button_update("/affirm"))).status == 200
    assert [(c["path"].rsplit("/", 1)[1], c["json"]) for c in api.calls] == [
        ("answerCallbackQuery", {"callback_query_id": "cbq-1"}),
        ("sendMessage", {"chat_id": "777", "text": "Order A12345 is on its way."})]
    assert await user_texts(store, "777") == ["/track_order", "/affirm"]


async def test_long_payloads_fit_callback_data_and_come_back_whole(telegram: Any) -> None:
    post, api, store, _ = telegram
    await post(text_update("/pick_size"))
    [body] = api.bodies("/sendMessage")
    rows = body["reply_markup"]["inline_keyboard"]
    assert [len(row) for row in rows] == [1, 1, 1, 1, 1]  # long titles: one button per row
    datas = [row[0]["callback_data"] for row in rows]
    assert all(len(d.encode()) <= 64 for d in datas) and len(set(datas)) == 5
    await post(button_update(datas[2]))
    assert (await user_texts(store, "777"))[-1] == size_button(38)["payload"]


async def test_paragraphs_images_and_edited_messages(telegram: Any) -> None:
    post, api, _, _ = telegram
    await post(text_update("/long_text"))
    await post(text_update("/show_image"))
    await post({"update_id": 3, "edited_message": text_update("/deny")["message"]})
    assert [(c["path"].rsplit("/", 1)[1], c["json"]) for c in api.calls] == [
        ("sendMessage", {"chat_id": "777", "text": "First paragraph."}),
        ("sendMessage", {"chat_id": "777", "text": "Second paragraph."}),
        ("sendMessage", {"chat_id": "777", "text": "Here it is:"}),
        ("sendPhoto", {"chat_id": "777", "photo": "https://shop.example/banner.png"}),
        ("sendMessage", {"chat_id": "777", "text": "Okay, nothing more then."}),
    ]


@pytest.mark.parametrize("secret", ["wrong-secret", None, ""])
async def test_a_wrong_or_missing_secret_token_is_403_and_nothing_is_processed(telegram: Any, secret: str | None) -> None:
    post, api, store, _ = telegram
    response = await post(text_update("/greet", chat_id=555), secret=secret)
    assert response.status == 403
    assert api.calls == []
    assert await user_texts(store, "555") == []


async def test_updates_without_text_are_acknowledged_and_ignored(telegram: Any) -> None:
    post, api, store, _ = telegram
    sticker = text_update("")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {"file_id": "x"}
    assert (await post(sticker)).status == 200
    assert api.calls == [] and await user_texts(store, "777") == []


async def test_set_webhook_registers_url_and_secret(telegram: Any) -> None:
    _, api, _, client = telegram
    response = await client.get("/webhooks/telegram/set_webhook")
    assert response.status == 200
    assert api.calls[0]["path"] == f"/bot{TOKEN}/setWebhook"
    assert api.calls[0]["json"] == {"url": "https://shop.example/webhooks/telegram/webhook", "secret_token": SECRET,
                                    "allowed_updates": ["message", "edited_message", "callback_query"]}


async def test_a_failing_bot_api_does_not_lose_the_turn(telegram: Any) -> None:
    post, api, store, _ = telegram
    api.status = 500
    assert (await post(text_update("/greet"))).status == 200
    assert len(api.calls) == 1 and await user_texts(store, "777") == ["/greet"]


def test_access_token_is_required() -> None:
    with pytest.raises(KefuError, match="telegram: 'access_token' is required"):
        create_app(Settings(credentials={"telegram": {"verify": "bot"}}))


async def test_custom_json_is_sent_with_the_bot_api_method_its_keys_name(aiohttp_server: Any) -> None:
    import aiohttp

    from bot.channels.telegram import LongPayloads, TelegramConfig, TelegramOutputChannel

    api = RecordingApi()
    server = await aiohttp_server(api.app())
    config = TelegramConfig.from_credentials({"access_token": TOKEN, "secret_token": SECRET,
                                              "api_base_url": str(server.make_url("")).rstrip("/")})
    async with aiohttp.ClientSession() as session:
        output = TelegramOutputChannel(config, session, LongPayloads())
        await output.send_response("777", {"custom": {"latitude": 52.5, "longitude": 13.4}})
        await output.send_response("777", {"custom": {"latitude": 52.5, "longitude": 13.4, "title": "Shop",
                                                      "address": "Main St 1"}})
        await output.send_response("777", {"custom": {"chat_id": "999", "photo": "https://x/y.png", "caption": "New"}})
        await output.send_response("777", {"custom": {"caption": "matches no method"}})
    assert [(c["path"].rsplit("/", 1)[1], c["json"]) for c in api.calls] == [
        ("sendLocation", {"chat_id": "777", "latitude": 52.5, "longitude": 13.4}),
        ("sendVenue", {"chat_id": "777", "latitude": 52.5, "longitude": 13.4, "title": "Shop", "address": "Main St 1"}),
        ("sendPhoto", {"chat_id": "999", "photo": "https://x/y.png", "caption": "New"}),
    ]


async def test_an_update_of_unknown_shape_is_not_a_500(telegram: Any) -> None:
    post, api, store, _ = telegram
    for update in ({"update_id": 1, "message": {"chat": "oops", "text": "/greet"}}, {"update_id": 2, "message": [1]},
                   {"update_id": 3, "callback_query": {"id": "q", "message": "x", "data": "/affirm"}}):
        assert (await post(update)).status == 200
    assert [c["path"].rsplit("/", 1)[1] for c in api.calls] == []
    assert await store.keys() == []
