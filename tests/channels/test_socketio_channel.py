"""The socket.io channel, driven by a real python-socketio client (and by raw Engine.IO frames, as the widget speaks)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import socketio
from channel_support import PRODUCTS, build_app, conversation_ids, user_texts

from bot.auth import encode_jwt
from bot.channels.socketio import SOCKETIO_SERVER
from bot.errors import KefuError
from bot.server import Settings, create_app

PERSISTENT = {"socketio": {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered",
                           "session_persistence": True}}


class Chat:
    """A python-socketio client that queues what the bot says."""

    def __init__(self, base_url: str, bot_event: str = "bot_uttered", namespace: str = "/", **connect: Any) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.connect_kwargs = {"transports": ["websocket"], **connect}
        self.sio = socketio.AsyncClient(reconnection=False)
        self.bot: asyncio.Queue[Any] = asyncio.Queue()
        self.confirmed: asyncio.Queue[Any] = asyncio.Queue()
        self.sio.on(bot_event, self.bot.put_nowait, namespace=namespace)
        self.sio.on("session_confirm", self.confirmed.put_nowait, namespace=namespace)

    async def __aenter__(self) -> Chat:
        await self.sio.connect(self.base_url, namespaces=[self.namespace], wait_timeout=5, **self.connect_kwargs)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.sio.disconnect()

    async def session(self, session_id: str | None = None) -> str:
        await self.sio.emit("session_request", {"session_id": session_id}, namespace=self.namespace)
        return await asyncio.wait_for(self.confirmed.get(), 5)

    async def say(self, message: str, session_id: str | None, event: str = "user_uttered", **extra: Any) -> None:
        await self.sio.emit(event, {"message": message, "session_id": session_id, **extra}, namespace=self.namespace)

    async def hear(self, count: int = 1) -> list[Any]:
        return [await asyncio.wait_for(self.bot.get(), 5) for _ in range(count)]

    async def silence(self, seconds: float = 0.3) -> bool:
        await asyncio.sleep(seconds)
        return self.bot.empty()


async def serve(aiohttp_client: Any, credentials: dict[str, Any], **settings: Any) -> tuple[str, Any, Any]:
    app, store = build_app(credentials, **settings)
    client = await aiohttp_client(app)
    return str(client.make_url("/")), store, client


async def test_conversation_with_buttons_over_a_real_socketio_client(aiohttp_client: Any) -> None:
    url, store, _ = await serve(aiohttp_client, PERSISTENT)
    async with Chat(url) as chat:
        session_id = await chat.session()
        assert len(session_id) == 32 and int(session_id, 16) >= 0  # a fresh uuid4 hex
        await chat.say("/track_order", session_id)
        [question] = await chat.hear()
        assert question == {"text": "Shall I look up your order?", "quick_replies": [
            {"content_type": "text", "title": "Yes please", "payload": "/affirm"},
            {"content_type": "text", "title": "No thanks", "payload": "/deny"}]}
        await chat.say(question["quick_replies"][0]["payload"], session_id)  # press "Yes please"
        assert await chat.hear() == [{"text": "Order A12345 is on its way."}]
        assert await chat.silence()
    assert await user_texts(store, session_id) == ["/track_order", "/affirm"]
    tracker = await store.retrieve(session_id)
    assert tracker is not None and tracker.latest_input_channel == "socketio"


async def test_message_shapes_images_templates_custom_and_paragraphs(aiohttp_client: Any) -> None:
    url, _, _ = await serve(aiohttp_client, PERSISTENT)
    async with Chat(url) as chat:
        sid = await chat.session("shapes-1")
        assert sid == "shapes-1"
        await chat.say("/show_image", sid)
        assert await chat.hear(2) == [{"text": "Here it is:"},
                                      {"attachment": {"type": "image", "payload": {"src": "https://shop.example/banner.png"}}}]
        await chat.say("/show_elements", sid)
        assert await chat.hear(3) == [
            {"text": "Two picks"},
            {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": {"title": "A", "subtitle": "first"}}}},
            {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": {"title": "B", "subtitle": "second"}}}},
        ]
        await chat.say("/recommend_product", sid)
        assert await chat.hear(2) == [{"text": "You might like these:"}, {"products": PRODUCTS}]  # custom: unchanged
        await chat.say("/long_text", sid)
        assert await chat.hear(2) == [{"text": "First paragraph."}, {"text": "Second paragraph."}]


async def test_session_persistence_continues_the_conversation_on_a_new_socket(aiohttp_client: Any) -> None:
    url, store, _ = await serve(aiohttp_client, PERSISTENT)
    async with Chat(url) as first:
        sid = await first.session()
        await first.say('/product_question{"product": "Daypack 22 L"}', sid)
        assert await first.hear() == [{"text": "The Daypack 22 L is a customer favourite."}]
    async with Chat(url) as second:  # a page reload: a new socket asks for the same session
        assert await second.session(sid) == sid
        await second.say("/track_order", sid)
        assert (await second.hear())[0]["text"] == "Shall I look up your order?"
    assert await user_texts(store, sid) == ['/product_question{"product": "Daypack 22 L"}', "/track_order"]
    tracker = await store.retrieve(sid)
    assert tracker is not None and tracker.slots["product"] == "Daypack 22 L"  # the same conversation
    assert await conversation_ids(store) == [sid]


async def test_two_tabs_of_one_session_both_hear_the_bot(aiohttp_client: Any) -> None:
    url, _, _ = await serve(aiohttp_client, PERSISTENT)
    async with Chat(url) as tab1, Chat(url) as tab2:
        sid = await tab1.session()
        assert await tab2.session(sid) == sid
        await tab1.say("/greet", sid)
        assert await tab1.hear() == await tab2.hear() == [{"text": "Hi from the web chat!"}]


async def test_with_persistence_a_message_without_session_id_is_ignored(aiohttp_client: Any) -> None:
    url, store, _ = await serve(aiohttp_client, PERSISTENT)
    async with Chat(url) as chat:
        await chat.session()
        await chat.say("/greet", None)
        assert await chat.silence()
    assert await conversation_ids(store) == []


async def test_without_persistence_the_socket_id_is_the_sender(aiohttp_client: Any) -> None:
    url, store, _ = await serve(aiohttp_client, {"socketio": {}})  # Rasa's defaults: no persistence
    async with Chat(url) as chat:
        await chat.say("/greet", None)
        assert await chat.hear() == [{"text": "Hi from the web chat!"}]
        sid = chat.sio.get_sid("/")
    assert await conversation_ids(store) == [sid]


async def test_jwt_key_guards_the_connection(aiohttp_client: Any) -> None:
    credentials = {"socketio": {**PERSISTENT["socketio"], "jwt_key": "s3cret", "jwt_method": "HS256"}}
    url, _, _ = await serve(aiohttp_client, credentials)
    for auth in (None, {"token": "not-a-jwt"}, {"token": encode_jwt({"sub": "u1"}, "other-key")},
                 {"token": encode_jwt({"sub": "u1", "exp": time.time() - 60}, "s3cret")}):
        with pytest.raises(socketio.exceptions.ConnectionError):
            async with Chat(url, auth=auth):
                pass
    async with Chat(url, auth={"token": "Bearer " + encode_jwt({"sub": "u1"}, "s3cret")}) as chat:
        sid = await chat.session()
        await chat.say("/greet", sid)
        assert await chat.hear() == [{"text": "Hi from the web chat!"}]


async def test_custom_events_namespace_path_and_metadata_key(aiohttp_client: Any) -> None:
    credentials = {"socketio": {"user_message_evt": "user_msg", "bot_message_evt": "bot_msg", "namespace": "/shop",
                                "socketio_path": "chat.io", "session_persistence": True, "metadata_key": "customData"}}
    url, store, client = await serve(aiohttp_client, credentials)
    async with Chat(url, bot_event="bot_msg", namespace="/shop", socketio_path="chat.io") as chat:
        sid = await chat.session()
        await chat.say("/greet", sid, event="user_msg", customData={"page": "/cart"}, metadata={"ignored": True})
        assert await chat.hear() == [{"text": "Hi from the web chat!"}]
        await chat.say("/greet", sid, event="user_msg", customData=json.dumps({"page": "/checkout"}))  # JSON text, as Rasa allows
        await chat.hear()
    tracker = await store.retrieve(sid)
    metadata = [e.get("metadata") for e in tracker.events if e.get("event") == "user"]
    assert metadata == [{"page": "/cart"}, {"page": "/checkout"}]
    widget = await (await client.get("/widget.js")).text()
    defaults = json.loads(widget.split("window.KEFU_WIDGET_DEFAULTS = ", 1)[1].split(";\n", 1)[0])
    assert defaults == {"socketPath": "/chat.io", "namespace": "/shop", "userMessageEvt": "user_msg",
                        "botMessageEvt": "bot_msg", "metadataKey": "customData", "sessionPersistence": True,
                        "authRequired": False}
    assert (await client.get("/socket.io/?EIO=4&transport=polling")).status == 404  # only the configured path


async def test_polling_transport_works_too(aiohttp_client: Any) -> None:
    url, _, client = await serve(aiohttp_client, PERSISTENT)
    chat = Chat(url, transports=["polling"])
    await chat.__aenter__()
    sid = await chat.session()
    await chat.say("/greet", sid)
    assert await chat.hear() == [{"text": "Hi from the web chat!"}]
    assert client.app[SOCKETIO_SERVER].eio.sockets[chat.sio.eio.sid].upgraded is False  # really long-polling
    await chat.sio.eio.disconnect(abort=True)  # a polite goodbye would wait for the pending long poll (25 s)


async def test_rasa_custom_data_form_is_unwrapped(aiohttp_client: Any) -> None:
    from bot.channels.socketio import SocketIOOutputChannel

    sent: list[tuple[str, Any, dict[str, Any]]] = []

    class FakeServer:
        async def emit(self, event: str, data: Any = None, **kwargs: Any) -> None:
            sent.append((event, data, kwargs))

    output = SocketIOOutputChannel(FakeServer(), "bot_uttered")  # type: ignore[arg-type]
    await output.send_response("room-1", {"custom": {"data": {"payload": "video", "src": "v.mp4"}}})
    await output.send_response("room-1", {"custom": {"data": 1, "extra": 2}})  # not emit's arguments: sent as is
    assert sent == [("bot_uttered", {"payload": "video", "src": "v.mp4"}, {"room": "room-1", "namespace": None}),
                    ("bot_uttered", {"data": 1, "extra": 2}, {"room": "room-1", "namespace": None})]


async def test_raw_engineio_frames_as_the_widget_sends_them(aiohttp_client: Any) -> None:
    """The subset widget.js speaks: open packet, "40" namespace connect, 42[...] events, pong."""
    url, store, client = await serve(aiohttp_client, PERSISTENT)
    async with client.session.ws_connect(client.make_url("/socket.io/?EIO=4&transport=websocket")) as ws:
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0") and {"sid", "pingInterval", "pingTimeout"} <= set(json.loads(opened[1:]))
        await ws.send_str("40")
        connected = await ws.receive_str(timeout=5)
        assert connected.startswith("40") and "sid" in json.loads(connected[2:])
        await ws.send_str('42["session_request",{"session_id":null}]')
        confirm = json.loads((await ws.receive_str(timeout=5))[2:])
        assert confirm[0] == "session_confirm" and len(confirm[1]) == 32
        await ws.send_str("3")  # an unsolicited pong is harmless
        await ws.send_str("42" + json.dumps(["user_uttered", {"message": "/greet", "session_id": confirm[1],
                                                               "metadata": {"page": "/"}}]))
        reply = await ws.receive_str(timeout=5)
        assert json.loads(reply[2:]) == ["bot_uttered", {"text": "Hi from the web chat!"}]
    assert await user_texts(store, confirm[1]) == ["/greet"]


async def test_widget_page_health_and_auth_exemptions(aiohttp_client: Any) -> None:
    url, _, client = await serve(aiohttp_client, PERSISTENT, auth_token="tok", enable_api=True)
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert html.count("<script") == 1 and 'src="/widget.js"' in html
    hello = await client.get("/", headers={"Accept": "*/*"})
    assert (await hello.text()).startswith("Hello from Kefu")  # curl and health probes keep Rasa's hello
    widget = await client.get("/widget.js")
    assert widget.status == 200 and widget.content_type == "application/javascript"
    assert "EIO=4&transport=websocket" in await widget.text()
    assert (await client.get("/widget.css")).status == 200
    assert (await client.get("/static/shop.css")).status == 200
    for private in ("/static/__init__.py", "/static/..%2Fchannels%2Fsocketio.py", "/static/nope.css"):
        assert (await client.get(private)).status == 404
    assert await (await client.get("/webhooks/socketio/")).json() == {"status": "ok"}
    assert (await client.get("/status")).status == 401  # the API still needs the token
    assert (await client.get("/status?token=tok")).status == 200
    async with Chat(url) as chat:  # socket.io needs no API token (as in Rasa)
        assert await chat.session("s1") == "s1"


async def test_without_socketio_there_is_no_widget(aiohttp_client: Any) -> None:
    _, _, client = await serve(aiohttp_client, {"rest": {}})
    assert (await client.get("/widget.js")).status == 404
    assert (await client.get("/", headers={"Accept": "text/html"})).status == 200  # the hello text
    assert (await client.get("/socket.io/?EIO=4&transport=polling")).status == 404


async def test_a_failing_turn_tells_the_shopper(aiohttp_client: Any) -> None:
    url, store, _ = await serve(aiohttp_client, PERSISTENT)

    async def broken(*args: Any) -> None:
        raise RuntimeError("store down")

    store.retrieve = broken  # type: ignore[method-assign]
    async with Chat(url) as chat:
        sid = await chat.session()
        await chat.say("/greet", sid)
        [reply] = await chat.hear()
        assert "something went wrong" in reply["text"]


@pytest.mark.parametrize(("section", "message"), [
    ({"session_persistence": "yes"}, "'session_persistence' must be true or false"),
    ({"user_message_evt": ""}, "'user_message_evt' must be a non-empty string"),
    ({"jwt_key": "k", "jwt_method": "RS256"}, "jwt_method 'RS256' is not supported"),
])
def test_bad_socketio_credentials_stop_the_server(section: dict[str, Any], message: str) -> None:
    with pytest.raises(KefuError, match=message):
        create_app(Settings(credentials={"socketio": section}))


async def test_unknown_channel_is_named() -> None:
    with pytest.raises(KefuError, match="unknown channel.*twiliox.*Kefu serves rest, socketio, telegram"):
        create_app(Settings(credentials={"rest": {}, "twiliox": {}}))


async def test_rasa_init_credentials_serve_rest_and_skip_rasas_own_channel(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """``rasa init``'s credentials.yml lists ``rest``, ``rasa`` (Rasa X) and, commented out, the rest."""
    credentials = {"rest": None, "rasa": {"url": "http://localhost:5002/api"}}
    with caplog.at_level("WARNING", logger="bot.channels.registry"):
        app = create_app(Settings(credentials=credentials))
    assert "channel 'rasa' (Rasa X / Rasa Enterprise's own channel) is Rasa's, not served by Kefu" in caplog.text
    client = await aiohttp_client(app)
    response = await client.post("/webhooks/rest/webhook", json={"sender": "u1", "message": "/greet"})
    assert response.status == 200
    missing = await client.post("/webhooks/rasa/webhook", json={"sender": "u1", "message": "hi"})
    assert missing.status == 404


async def test_cors_origins_limit_who_may_open_a_socket(aiohttp_client: Any) -> None:
    _, _, client = await serve(aiohttp_client, PERSISTENT, cors_origins=("https://shop.example",))
    url = client.make_url("/socket.io/?EIO=4&transport=websocket")
    own = f"http://{url.host}:{url.port}"
    for origin in ("https://shop.example", own):  # the listed shop, and the server's own demo page
        async with client.session.ws_connect(url, headers={"Origin": origin}) as ws:
            assert (await ws.receive_str(timeout=5)).startswith("0")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.session.ws_connect(url, headers={"Origin": "https://evil.example"})
