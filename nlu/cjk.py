"""Script-aware text helpers for Chinese (and Japanese kana) text, which has no spaces between words.

Pure functions, no dependencies. A *CJK character* here is either

* an **ideograph-like** character that is a word on its own for tokenization: CJK Unified Ideographs
  (the basic block, Extension A and the supplementary planes), CJK compatibility ideographs, kana, and
  the letter-like signs of the CJK Symbols and Punctuation block (``々``, ``〇``...); or
* **CJK punctuation**: the rest of the CJK Symbols and Punctuation block (``。``, ``、``, ``「」``...),
  the vertical and small forms, and the punctuation of the full-width forms block (``，``, ``？``, ``！``...).

Full-width letters and digits (``Ａ``, ``１``) are not CJK: they tokenize like Latin letters and digits.

:func:`cjk_word_spans` tokenizes like Kefu's ``WhitespaceTokenizer`` but gives every ideograph its own
token (``订单A12345到哪了`` → ``订 单 A12345 到 哪 了``); :data:`CJK_BOUNDARY` is a script-aware ``\\b`` for
regular expressions.
"""

from __future__ import annotations

import re
import unicodedata

# Punctuation that WhitespaceTokenizer trims from both ends of a token (kept inside: "where's", "A-12").
EDGE_PUNCT = ".,!?;:\"'()[]{}<>«»“”‘’…"

_IDEOGRAPH_RANGES: tuple[tuple[int, int], ...] = (
    (0x3400, 0x4DBF),    # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0xF900, 0xFAFF),    # CJK Compatibility Ideographs
    (0x20000, 0x2FA1F),  # Extensions B-F, Compatibility Ideographs Supplement
    (0x30000, 0x323AF),  # Extensions G-H
    (0x3040, 0x309F),    # Hiragana
    (0x30A0, 0x30FF),    # Katakana
    (0x31F0, 0x31FF),    # Katakana Phonetic Extensions
    (0xFF66, 0xFF9F),    # half-width Katakana
    # letter-like signs of CJK Symbols and Punctuation: 々 〆 〇, Hangzhou numerals, kana repeat marks
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3031, 0x3035),
    (0x3038, 0x303C),
)

_PUNCTUATION_RANGES: tuple[tuple[int, int], ...] = (
    (0x3000, 0x3004),  # ideographic space 、 。 〃 〄
    (0x3008, 0x3020),  # 〈〉《》「」『』【】〒〓〔〕... 〜 〝〞〟 〠
    (0x302A, 0x3030),  # tone marks, 〰
    (0x3036, 0x3037),
    (0x303D, 0x303F),
    (0xFE10, 0xFE1F),  # Vertical Forms
    (0xFE30, 0xFE4F),  # CJK Compatibility Forms
    (0xFE50, 0xFE6F),  # Small Form Variants
    (0xFF01, 0xFF0F),  # ！＂＃＄％＆＇（）＊＋，－．／
    (0xFF1A, 0xFF20),  # ：；＜＝＞？＠
    (0xFF3B, 0xFF40),  # ［＼］＾＿｀
    (0xFF5B, 0xFF65),  # ｛｜｝～ ｟｠ ｡｢｣､･
)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class (``\\uXXXX`` escapes, readable in saved patterns)."""

    def escape(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return "".join(f"{escape(a)}-{escape(b)}" for a, b in ranges)


# Inside of a character class: characters that are a token on their own.
IDEOGRAPH_CLASS = _char_class(_IDEOGRAPH_RANGES)
# Inside of a character class: CJK and full-width punctuation.
CJK_PUNCTUATION_CLASS = _char_class(_PUNCTUATION_RANGES)
# Inside of a character class: every CJK character (ideograph-like or punctuation).
CJK_CLASS = IDEOGRAPH_CLASS + CJK_PUNCTUATION_CLASS

# A script-aware word boundary: Python's ``\b``, or next to a CJK character on either side (CJK text
# has no spaces, so every CJK character is bounded). Without CJK characters it is exactly ``\b``.
CJK_BOUNDARY = rf"(?:\b|(?<=[{CJK_CLASS}])|(?=[{CJK_CLASS}]))"

_IDEOGRAPH = re.compile(f"[{IDEOGRAPH_CLASS}]")
_PUNCTUATION = re.compile(f"[{CJK_PUNCTUATION_CLASS}]")
_ANY_CJK = re.compile(f"[{CJK_CLASS}]")
# one ideograph, or a run of anything that is neither whitespace nor CJK
_PIECE = re.compile(f"([{IDEOGRAPH_CLASS}])|[^\\s{CJK_CLASS}]+")


def is_cjk_ideograph(char: str) -> bool:
    """``char`` is a CJK ideograph (or kana, or a letter-like CJK sign): a token on its own."""
    return bool(char) and _IDEOGRAPH.fullmatch(char) is not None


def is_cjk_punctuation(char: str) -> bool:
    """``char`` is CJK or full-width punctuation (``。``, ``，``, ``「``, ``？``...)."""
    return bool(char) and _PUNCTUATION.fullmatch(char) is not None


def is_cjk(char: str) -> bool:
    """``char`` is a CJK character: an ideograph-like character or CJK/full-width punctuation."""
    return bool(char) and _ANY_CJK.fullmatch(char) is not None


def has_cjk(text: str) -> bool:
    """``text`` contains at least one CJK character."""
    return _ANY_CJK.search(text) is not None


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` without the :data:`EDGE_PUNCT` at either end (``start == end`` when nothing is left)."""
    while start < end and text[start] in EDGE_PUNCT:
        start += 1
    while end > start and text[end - 1] in EDGE_PUNCT:
        end -= 1
    return start, end


def cjk_word_spans(text: str) -> list[list[int]]:
    """``[[start, end], ...]``: every ideograph is a token, every other run between whitespace, ideographs
    and CJK punctuation is a token with its edge punctuation trimmed (as WhitespaceTokenizer trims it);
    punctuation alone is no token.

    >>> t = "订单A12345到哪了？"
    >>> [t[s:e] for s, e in cjk_word_spans(t)]
    ['订', '单', 'A12345', '到', '哪', '了']
    """
    out: list[list[int]] = []
    for match in _PIECE.finditer(text):
        start, end = match.span()
        if match.group(1) is None:
            start, end = trim_span(text, start, end)
        if end > start:
            out.append([start, end])
    return out


def is_punctuation_token(token: str) -> bool:
    """``token`` is only whitespace and punctuation (nothing a tokenizer should keep)."""
    return all(c.isspace() or c in EDGE_PUNCT or is_cjk_punctuation(c) or unicodedata.category(c).startswith("P")
               for c in token)
