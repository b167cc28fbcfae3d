"""Typo augmentation: noisy copies of training sentences, so the model survives ``trak my ordr``.

Shoppers type fast; WordPiece splits a misspelt word into unfamiliar pieces. Training on a few
copies with one or two random character edits (drop, swap, double, replace by a keyboard
neighbour) makes intents robust to that, at the cost of more training rows.
"""

from __future__ import annotations

import random

_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv", "h": "gyujnb",
    "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol",
    "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc",
    "y": "tghu", "z": "asx",
}


def typo(text: str, rng: random.Random, edits: int = 1) -> str:
    """``text`` with ``edits`` random character edits inside words (never a first or last letter)."""
    chars = list(text)
    for _ in range(edits):
        words = [i for i in range(1, len(chars) - 1) if chars[i].isalpha() and chars[i - 1].isalpha() and chars[i + 1].isalpha()]
        if not words:
            break
        i = rng.choice(words)
        kind = rng.randrange(4)
        if kind == 0:
            del chars[i]
        elif kind == 1:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif kind == 2:
            chars.insert(i, chars[i])
        else:
            lower = chars[i].lower()
            chars[i] = rng.choice(_NEIGHBOURS.get(lower, lower))
    return "".join(chars)


def noisy_copies(texts: list[str], rate: float, seed: int) -> list[tuple[int, str]]:
    """``(index, noisy text)`` pairs: on average ``rate`` copies per text (``rate`` may exceed 1)."""
    rng = random.Random(seed)
    out: list[tuple[int, str]] = []
    for index, text in enumerate(texts):
        copies = int(rate) + (1 if rng.random() < rate - int(rate) else 0)
        for _ in range(copies):
            noisy = typo(text, rng, edits=1 + (rng.random() < 0.3))
            if noisy != text:
                out.append((index, noisy))
    return out
