"""JiebaTokenizer: Rasa's Chinese word tokenizer (``text_tokens`` are jieba words: ``订单 A12345 到 哪 了``).

Needs the optional ``jieba`` package (``pip install 'kefu[zh]'``); without it, building the pipeline
stops with a :class:`MissingDependencyError` that names the component and the command to run.
WhitespaceTokenizer tokenizes Chinese one character per token and needs nothing extra.

jieba never downloads anything: its dictionary ships inside the package. It caches the parsed
dictionary in the temp folder and logs while doing so; Kefu keeps that log quiet (unless debugging).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.errors import KefuError
from nlu.cjk import is_punctuation_token, trim_span
from nlu.component import STAGE_TOKENIZER, Component, Message

logger = logging.getLogger(__name__)

USER_DICT_DIR = "user_dicts"
INSTALL_HINT = "pip install 'kefu[zh]' (or pip install jieba)"


class MissingDependencyError(KefuError):
    """A pipeline component needs a package that is not installed (the message says what to install)."""


def import_jieba(component: str = "JiebaTokenizer") -> ModuleType:
    """The ``jieba`` module, its log quiet; :class:`MissingDependencyError` when it is not installed."""
    try:
        import jieba
    except ImportError as exc:
        raise MissingDependencyError(
            f"{component} needs the jieba package, which is not installed: {INSTALL_HINT}"
        ) from exc
    if not logger.isEnabledFor(logging.DEBUG):
        for name in ("jieba", "jieba._compat"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return jieba


def dictionary_files(dictionary_path: str | Path) -> list[Path]:
    """The user dictionaries in ``dictionary_path``: every file of the folder (Rasa's rule), or the file itself."""
    path = Path(dictionary_path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    raise KefuError(f"JiebaTokenizer: dictionary_path '{dictionary_path}' is neither a folder nor a file")


_shared: Any = None
_shared_lock = threading.Lock()


def _shared_tokenizer(jieba: ModuleType) -> Any:
    """One jieba tokenizer with jieba's own dictionary only (loading it takes about a second)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _shared = tokenizer
    return _shared


class JiebaTokenizer(Component):
    """Split messages into jieba words (``text_tokens``); punctuation and whitespace are no tokens.

    :param dictionary_path: a folder of jieba user dictionaries (``word [freq] [tag]`` per line), all loaded
        on top of jieba's own; saved into the model, so a trained model does not need the folder
    :param intent_tokenization_flag: accepted for Rasa compatibility (Kefu's classifier needs no intent tokens)
    :param intent_split_symbol: accepted for Rasa compatibility
    :param token_pattern: a regular expression that splits each jieba word further (Rasa's rule: a word
        without any match stays whole)
    """

    name = "JiebaTokenizer"
    stage = STAGE_TOKENIZER

    def __init__(
        self,
        dictionary_path: str | None = None,
        intent_tokenization_flag: bool = False,
        intent_split_symbol: str = "_",
        token_pattern: str | None = None,
    ) -> None:
        self._jieba = import_jieba(self.name)
        self.dictionary_path = dictionary_path
        self.intent_tokenization_flag = intent_tokenization_flag
        self.intent_split_symbol = intent_split_symbol
        self.token_pattern = token_pattern
        try:
            self._token_regex = re.compile(token_pattern) if token_pattern else None
        except re.error as exc:
            raise KefuError(f"JiebaTokenizer: token_pattern {token_pattern!r} is no regular expression ({exc})") from exc
        self.user_dicts: list[Path] = dictionary_files(dictionary_path) if dictionary_path else []
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def params(self) -> dict[str, Any]:
        return {
            "dictionary_path": self.dictionary_path,
            "intent_tokenization_flag": self.intent_tokenization_flag,
            "intent_split_symbol": self.intent_split_symbol,
            "token_pattern": self.token_pattern,
        }

    def _ready(self) -> Any:
        """jieba's tokenizer with the user dictionaries loaded (built once, on first use; without user
        dictionaries one tokenizer is shared by every JiebaTokenizer of the process)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    if not self.user_dicts:
                        self._tokenizer = _shared_tokenizer(self._jieba)
                    else:
                        tokenizer = self._jieba.Tokenizer()
                        tokenizer.initialize()
                        for path in self.user_dicts:
                            logger.debug("JiebaTokenizer: loading user dictionary %s", path)
                            tokenizer.load_userdict(str(path))
                        self._tokenizer = tokenizer
        return self._tokenizer

    def tokens(self, text: str) -> list[list[int]]:
        """``[[start, end], ...]`` of ``text``'s jieba words (edge punctuation trimmed as WhitespaceTokenizer does)."""
        out: list[list[int]] = []
        for _word, start, end in self._ready().tokenize(text):
            start, end = trim_span(text, start, end)
            if end <= start or is_punctuation_token(text[start:end]):
                continue
            if self._token_regex is not None:
                word = text[start:end]
                parts = [m.span() for m in self._token_regex.finditer(word) if m.end() > m.start()]
                if parts:
                    out.extend([start + s, start + e] for s, e in parts)
                    continue
            out.append([start, end])
        return out

    def process(self, messages: list[Message]) -> None:
        for message in messages:
            message["text_tokens"] = self.tokens(message["text"])

    def save(self, folder: Path) -> None:
        if self.user_dicts:
            target = folder / USER_DICT_DIR
            target.mkdir(exist_ok=True)
            for index, path in enumerate(self.user_dicts):
                shutil.copyfile(path, target / f"{index:03d}_{path.name}")

    @classmethod
    def load(cls, folder: Path, params: dict[str, Any]) -> JiebaTokenizer:
        tokenizer = cls(**{**params, "dictionary_path": None})
        tokenizer.dictionary_path = params.get("dictionary_path")
        saved = folder / USER_DICT_DIR
        tokenizer.user_dicts = dictionary_files(saved) if saved.is_dir() else []
        tokenizer._ready()
        return tokenizer
