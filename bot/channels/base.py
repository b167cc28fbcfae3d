"""What a channel hands the bot (:class:`UserMessage`) and how replies get back (:class:`OutputChannel`).

Rasa's dispatch rules are kept: a message with buttons becomes one ``text + buttons`` message, an image
is sent as its own message, custom JSON and attachments too; ``CollectingOutputChannel`` gathers them
for the REST reply and ``QueueOutputChannel`` streams them as they are produced.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SENDER_ID = "default"


@dataclass
class UserMessage:
    """One incoming message: text, who sent it, on which channel, and channel metadata."""

    text: str | None
    sender_id: str = DEFAULT_SENDER_ID
    input_channel: str | None = None
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    metadata: dict[str, Any] = field(default_factory=dict)
    parse_data: dict[str, Any] | None = None  # already parsed (trigger_intent, test runs)


class OutputChannel:
    """Base output channel: turns one bot message into the channel's calls (Rasa's ``send_response``)."""

    @classmethod
    def name(cls) -> str | None:
        return None

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        message = dict(message)
        if message.get("quick_replies"):
            await self.send_text_with_buttons(recipient_id, message.pop("text", "") or "", message.pop("quick_replies"))
        elif message.get("buttons"):
            await self.send_text_with_buttons(recipient_id, message.pop("text", "") or "", message.pop("buttons"))
        elif message.get("text"):
            await self.send_text_message(recipient_id, message.pop("text"))
        if message.get("custom"):
            await self.send_custom_json(recipient_id, message.pop("custom"))
        if message.get("image"):
            await self.send_image_url(recipient_id, message.pop("image"))
        if message.get("attachment"):
            await self.send_attachment(recipient_id, message.pop("attachment"))
        if message.get("elements"):
            await self.send_elements(recipient_id, message.pop("elements"))

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        raise NotImplementedError

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        await self.send_text_message(recipient_id, text)
        for index, button in enumerate(buttons):
            await self.send_text_message(recipient_id, f"{index + 1}: {button.get('title')} ({button.get('payload')})")

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self.send_text_message(recipient_id, f"Image: {image}")

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        await self.send_text_message(recipient_id, f"Attachment: {attachment}")

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        await self.send_text_message(recipient_id, str(custom))

    async def send_elements(self, recipient_id: str, elements: list[Any]) -> None:
        for element in elements:
            if isinstance(element, dict):
                title = f"{element.get('title', '')} : {element.get('subtitle', '')}"
                await self.send_text_with_buttons(recipient_id, title, element.get("buttons") or [])


class CollectingOutputChannel(OutputChannel):
    """Keeps every message in ``messages`` (the REST channel's reply body)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str | None:
        return "collector"

    @staticmethod
    def _message(recipient_id: str, **parts: Any) -> dict[str, Any]:
        return {"recipient_id": recipient_id, **{k: v for k, v in parts.items() if v is not None}}

    async def _persist(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    async def send_text_message(self, recipient_id: str, text: str) -> None:
        for part in text.strip().split("\n\n"):
            await self._persist(self._message(recipient_id, text=part))

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]]) -> None:
        await self._persist(self._message(recipient_id, text=text, buttons=buttons))

    async def send_image_url(self, recipient_id: str, image: str) -> None:
        await self._persist(self._message(recipient_id, image=image))

    async def send_attachment(self, recipient_id: str, attachment: Any) -> None:
        await self._persist(self._message(recipient_id, attachment=attachment))

    async def send_custom_json(self, recipient_id: str, custom: Any) -> None:
        await self._persist(self._message(recipient_id, custom=custom))


class QueueOutputChannel(CollectingOutputChannel):
    """Also puts each message on a queue as soon as it exists (``?stream=true``)."""

    def __init__(self, queue: asyncio.Queue[dict[str, Any] | None] | None = None) -> None:
        super().__init__()
        self.queue: asyncio.Queue[dict[str, Any] | None] = queue or asyncio.Queue()

    async def _persist(self, message: dict[str, Any]) -> None:
        await super()._persist(message)
        await self.queue.put(message)
