"""Which language a shopper's message is written in: Chinese when it holds a Chinese character,
English when it holds Latin letters and no Chinese, unknown otherwise (an order number alone,
an emoji), so a bare ``A12345`` keeps the conversation's language.
"""

from __future__ import annotations

import re

from nlu.cjk import has_cjk

CHINESE = "zh"
ENGLISH = "en"
_LATIN_LETTER = re.compile(r"[A-Za-z]{2,}")
_ORDER_ID_ONLY = re.compile(r"[A-Za-z]?\d[\w-]*|[\w.+-]+@[\w-]+(\.[\w-]+)+")  # an id or an email says nothing


def message_language(text: str) -> str | None:
    """``zh``, ``en`` or ``None`` (the message does not show its language)."""
    if has_cjk(text):
        return CHINESE
    if _LATIN_LETTER.search(text) and not _ORDER_ID_ONLY.fullmatch(text.strip()):
        return ENGLISH
    return None

