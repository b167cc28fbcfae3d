"""Typed keys of the aiohttp application (no globals: ``request.config_dict[PROCESSOR]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from bot.processor import MessageProcessor
    from bot.server import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
PROCESSOR: web.AppKey[MessageProcessor] = web.AppKey("processor")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http", aiohttp.ClientSession)
