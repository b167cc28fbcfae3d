"""WhitespaceTokenizer: Rasa's ``text_tokens`` (character spans of the words of a message)."""

from __future__ import annotations

import re
from typing import Any

from nlu.cjk import cjk_word_spans, has_cjk, trim_span
from nlu.component import STAGE_TOKENIZER, Component, Message

_TOKEN = re.compile(r"\S+")


def whitespace_tokens(text: str) -> list[list[int]]:
    """``[[start, end], ...]`` of whitespace-separated words, trailing/leading punctuation trimmed.

    Text with CJK characters is tokenized script-aware (Chinese has no spaces between words): every
    ideograph is a token, runs of other characters are split as usual, CJK punctuation is dropped
    (``订单A12345到哪了`` → ``订 单 A12345 到 哪 了``). Rasa's WhitespaceTokenizer refuses Chinese instead.
    """
    if has_cjk(text):
        return cjk_word_spans(text)
    out: list[list[int]] = []
    for match in _TOKEN.finditer(text):
        start, end = trim_span(text, *match.span())
        if end > start:
            out.append([start, end])
    return out


class WhitespaceTokenizer(Component):
    """Split messages on whitespace (``text_tokens`` in the parse result); CJK text one ideograph per token.

    :param intent_tokenization_flag: accepted for Rasa compatibility (Kefu's classifier needs no intent tokens)
    :param intent_split_symbol: accepted for Rasa compatibility
    :param token_pattern: accepted for Rasa compatibility
    """

    name = "WhitespaceTokenizer"
    stage = STAGE_TOKENIZER

    def __init__(
        self,
        intent_tokenization_flag: bool = False,
        intent_split_symbol: str = "_",
        token_pattern: str | None = None,
    ) -> None:
        self.intent_tokenization_flag = intent_tokenization_flag
        self.intent_split_symbol = intent_split_symbol
        self.token_pattern = token_pattern

    def params(self) -> dict[str, Any]:
        return {
            "intent_tokenization_flag": self.intent_tokenization_flag,
            "intent_split_symbol": self.intent_split_symbol,
            "token_pattern": self.token_pattern,
        }

    def process(self, messages: list[Message]) -> None:
        for message in messages:
            message["text_tokens"] = whitespace_tokens(message["text"])
