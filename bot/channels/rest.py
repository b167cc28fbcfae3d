"""Rasa's REST channel as an aiohttp sub-app, mounted at ``/webhooks/rest/``.

- ``GET /webhooks/rest/`` → ``{"status": "ok"}``
- ``POST /webhooks/rest/webhook`` with ``{"sender", "message", "metadata"?}`` → the bot's messages as a
  JSON list (``[{"recipient_id", "text", "buttons"?, "image"?, "custom"?, "attachment"?}]``);
  with ``?stream=true`` each message is written as one JSON line as soon as it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from bot import fastjson, turn_timing
from bot.app_keys import PROCESSOR, SETTINGS
from bot.channels.base import CollectingOutputChannel, QueueOutputChannel, UserMessage
from bot.web_utils import RequestError, get_dict, get_str, read_json_object

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
DEFAULT_MAX_MESSAGE_CHARS = 100_000


class RestOutputChannel(CollectingOutputChannel):
    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME


class RestStreamOutputChannel(QueueOutputChannel):
    @classmethod
    def name(cls) -> str | None:
        return CHANNEL_NAME


def parse_webhook_body(body: dict[str, Any], max_chars: int) -> UserMessage:
    """Validate a webhook body (400 naming the field) and build the user message."""
    sender = body.get("sender")
    if sender is None:
        raise RequestError("sender", "'sender' is required: the conversation id (a string)")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        raise RequestError("sender", f"'sender' must be a string, not {type(sender).__name__}")
    sender = str(sender)
    if not sender.strip() or len(sender) > 255:
        raise RequestError("sender", "'sender' must be 1 to 255 characters long")
    text = get_str(body, "message", required=True, max_chars=max_chars)
    metadata = get_dict(body, "metadata") or {}
    message_id = get_str(body, "message_id", required=False, max_chars=255)
    message = UserMessage(text, sender, input_channel=CHANNEL_NAME, metadata=metadata)
    if message_id:
        message.message_id = message_id
    return message


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def receive(request: web.Request) -> web.StreamResponse:
    settings = request.config_dict[SETTINGS]
    message = parse_webhook_body(await read_json_object(request), settings.max_message_chars)
    processor = request.config_dict[PROCESSOR]
    if request.query.get("stream", "false").lower() in ("true", "1", "yes"):
        processor.admit(message)  # refused before the stream's headers go out (429 / 413 as JSON)
        return await _stream(request, processor, message)
    channel = RestOutputChannel()
    timing, token = turn_timing.start()
    try:
        await processor.handle_message(message, channel)
    finally:
        turn_timing.stop(token)
    return web.json_response(channel.messages, dumps=fastjson.dumps,
                             headers={turn_timing.SERVER_TIMING_HEADER: timing.header()})


async def _stream(request: web.Request, processor: Any, message: UserMessage) -> web.StreamResponse:
    channel = RestStreamOutputChannel()
    task = asyncio.create_task(processor.handle_message(message, channel, admitted=True))
    task.add_done_callback(lambda _: channel.queue.put_nowait(None))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    connected = True

    async def send(item: dict[str, Any]) -> None:
        nonlocal connected
        if connected:
            try:
                await response.write(fastjson.dumps_bytes(item) + b"\n")
            except ConnectionResetError:  # the client left: the turn still finishes and is saved
                connected = False

    await response.prepare(request)
    while (item := await channel.queue.get()) is not None:
        await send(item)
    try:
        await task
    except Exception as exc:  # headers are out: report the error in the stream
        logger.exception("turn failed while streaming")
        await send({"error": str(exc) or type(exc).__name__})
    if connected:
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
    return response


def create_app() -> web.Application:
    """The REST channel sub-app (mount with ``app.add_subapp("/webhooks/rest/", create_app())``)."""
    app = web.Application()
    app.add_routes([web.get("/", health), web.post("/webhook", receive)])
    return app
