"""Input and output channels (the REST channel is an aiohttp sub-app)."""

from bot.channels.base import CollectingOutputChannel, OutputChannel, QueueOutputChannel, UserMessage

__all__ = ["CollectingOutputChannel", "OutputChannel", "QueueOutputChannel", "UserMessage"]
