"""Find and mask personal data: emails, phone numbers, card numbers, national ids and IBANs.

Masking applies to what Kefu keeps (stored trackers), writes (logs) and hands out (exported
stories). The tracker used during a turn is left intact, so the action server still receives the
real values it needs for the lookup in flight.

Detectors are deliberately strict so ordinary shop talk (order ids such as ``A12345``, prices,
sizes, dates) is left alone: card numbers must pass the Luhn check, Chinese resident ids their
ISO 7064 checksum, IBANs mod-97, and phone numbers need an international prefix (``+`` / ``00``)
or a typical grouped national layout.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EMAIL = "email"
PHONE = "phone"
CARD = "card"
NATIONAL_ID = "national_id"
IBAN = "iban"
PII_KINDS = (EMAIL, CARD, IBAN, NATIONAL_ID, PHONE)  # detection order: the most specific first

_EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD_RE = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_NATIONAL_ID_RE = re.compile(r"(?<![\w-])\d{17}[\dXx](?![\w-])")
_PHONE_INTL_RE = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w-])")
_PHONE_NATIONAL_RE = re.compile(
    r"(?<![\w-])(?:\(\d{2,5}\)[ .-]?\d{3,4}[ .-]\d{3,4}|\d{3}[.-]\d{3}[.-]\d{4}|\d{3} \d{3} \d{4}|1[3-9]\d{9})(?![\w-])"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27, "GB": 22,
    "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def china_id_ok(number: str) -> bool:
    """China's 18-character resident id: a plausible birth date and the ISO 7064 MOD 11-2 check character."""
    if not re.fullmatch(r"\d{17}[\dXx]", number):
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def iban_ok(iban: str) -> bool:
    """An IBAN: known length for its country (when known) and the mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _phone_ok(text: str) -> bool:
    return 8 <= len(re.sub(r"\D", "", text)) <= 15


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data found in a text."""

    kind: str
    start: int
    end: int
    value: str


_DETECTORS: tuple[tuple[str, re.Pattern[str], Any], ...] = (
    (EMAIL, _EMAIL_RE, None),
    (IBAN, _IBAN_RE, iban_ok),
    (NATIONAL_ID, _NATIONAL_ID_RE, china_id_ok),
    (PHONE, _PHONE_INTL_RE, _phone_ok),  # before cards: a "+" / "00" number can pass the Luhn check
    (CARD, _CARD_RE, _card_ok),
    (PHONE, _PHONE_NATIONAL_RE, _phone_ok),
)


# every detector needs an "@" or a digit: text with neither (most chat lines) skips them all
_MAYBE_PII_RE = re.compile(r"[@\d]")


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS) -> list[PiiMatch]:
    """Non-overlapping PII spans in ``text``, in order (earlier detectors win overlaps)."""
    if not _MAYBE_PII_RE.search(text):
        return []
    wanted = set(kinds)
    found: list[PiiMatch] = []
    for kind, pattern, check in _DETECTORS:
        if kind not in wanted:
            continue
        for match in pattern.finditer(text):
            value = match.group(0).rstrip(" .-")
            end = match.start() + len(value)
            if check is not None and not check(value):
                continue
            if any(m.start < end and match.start() < m.end for m in found):
                continue
            found.append(PiiMatch(kind, match.start(), end, value))
    return sorted(found, key=lambda m: m.start)


def placeholder(kind: str) -> str:
    """What replaces a value of ``kind``: ``[EMAIL]``, ``[CARD]``, ..."""
    return f"[{kind.upper()}]"


def mask_text(text: str, kinds: Iterable[str] = PII_KINDS) -> str:
    """``text`` with every PII span of ``kinds`` replaced by its placeholder."""
    matches = find_pii(text, kinds)
    if not matches:
        return text
    parts: list[str] = []
    last = 0
    for match in matches:
        parts.append(text[last:match.start])
        parts.append(placeholder(match.kind))
        last = match.end
    parts.append(text[last:])
    return "".join(parts)


@dataclass
class PrivacySettings:
    """The ``privacy:`` section of endpoints.yml.

    :param mask: which kinds to detect and mask (default all: email, phone, card, national_id, iban)
    :param mask_entities: entity names whose values are always masked entirely (e.g. ``[email]``)
    :param mask_slots: slot names whose values are always masked entirely
    :param keep_slots: slot names never masked (e.g. a hashed customer id the bot needs next session)
    :param mask_logs: mask log records too (default on)
    :param audit_log: JSON-lines file that records deletions (``kefu forget``, ``DELETE /conversations``)
    :param recommender_url: the recommendation service whose shopper history a deletion also erases
    """

    mask: tuple[str, ...] = PII_KINDS
    mask_entities: tuple[str, ...] = ()
    mask_slots: tuple[str, ...] = ()
    keep_slots: tuple[str, ...] = ()
    mask_logs: bool = True
    audit_log: str | None = None
    recommender_url: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> PrivacySettings:
        """Read the section; unknown kinds or keys raise ``ValueError`` naming them."""
        config = dict(config or {})
        known = {"mask", "mask_entities", "mask_slots", "keep_slots", "mask_logs", "audit_log", "recommender_url"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"privacy: unknown key(s) {unknown} (expected some of {sorted(known)})")
        mask = tuple(config.get("mask", PII_KINDS) or ())
        bad = sorted(set(mask) - set(PII_KINDS))
        if bad:
            raise ValueError(f"privacy.mask: unknown kind(s) {bad} (expected some of {list(PII_KINDS)})")
        return cls(
            mask=mask,
            mask_entities=tuple(config.get("mask_entities") or ()),
            mask_slots=tuple(config.get("mask_slots") or ()),
            keep_slots=tuple(config.get("keep_slots") or ()),
            mask_logs=bool(config.get("mask_logs", True)),
            audit_log=config.get("audit_log"),
            recommender_url=config.get("recommender_url"),
        )


@dataclass
class PiiMasker:
    """Masks PII in texts, events and log records according to :class:`PrivacySettings`."""

    settings: PrivacySettings = field(default_factory=PrivacySettings)

    def text(self, value: str) -> str:
        """``value`` with the configured kinds masked."""
        return mask_text(value, self.settings.mask) if self.settings.mask else value

    def _value(self, value: Any) -> Any:
        """Mask every string inside a slot or entity value (lists and dicts included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value

    def event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """A masked copy of one tracker event (user and bot text, parse data, entities, slots).

        Only what masking may change is copied (the event, its parse data, its entities, slot values);
        the rest (intent ranking, bot ``data``, metadata) is shared with ``event``, read-only: this runs
        over the whole conversation on every save, where deep copies cost more than the masking itself.
        """
        out = dict(event)
        kind = out.get("event")
        if kind in ("user", "bot") and isinstance(out.get("text"), str):
            out["text"] = self.text(out["text"])
        if kind == "user":
            parse = out.get("parse_data")
            if isinstance(parse, dict):
                parse = out["parse_data"] = dict(parse)
                if isinstance(parse.get("text"), str):
                    parse["text"] = self.text(parse["text"])
                if isinstance(parse.get("entities"), list):
                    parse["entities"] = [dict(e) if isinstance(e, dict) else e for e in parse["entities"]]
                    for entity in parse["entities"]:
                        if isinstance(entity, dict):
                            self._mask_entity(entity)
        if kind == "slot":
            name = out.get("name")
            if name in self.settings.mask_slots:
                out["value"] = placeholder(str(name)) if out.get("value") is not None else None
            elif name not in self.settings.keep_slots:
                out["value"] = self._value(out.get("value"))
        return out

    def _mask_entity(self, entity: dict[str, Any]) -> None:
        if entity.get("entity") in self.settings.mask_entities:
            entity["value"] = placeholder(str(entity["entity"]))
        else:
            entity["value"] = self._value(entity.get("value"))
        if isinstance(entity.get("text"), str):
            entity["text"] = self.text(entity["text"])

    def events(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [self.event(e) for e in events]


class PiiLogFilter(logging.Filter):
    """Masks PII in a log record's final message (usable on any handler or logger)."""

    def __init__(self, masker: PiiMasker | None = None) -> None:
        super().__init__()
        self.masker = masker or PiiMasker()

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record, self.masker)
        return True


def mask_record(record: logging.LogRecord, masker: PiiMasker) -> None:
    """Replace the record's message with its masked rendering (args are folded in)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: let logging report it as usual
        return
    masked = masker.text(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None


class LogMasking:
    """Masks every log record at creation, so every handler (files, console, pytest's caplog) sees masked text.

    ``install()`` wraps the current log record factory; ``uninstall()`` restores it.
    """

    def __init__(self, masker: PiiMasker) -> None:
        self.masker = masker
        self._previous: Any = None
        self._factory: Any = None

    def install(self) -> None:
        if self._previous is not None:
            return
        previous = logging.getLogRecordFactory()
        masker = self.masker

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            mask_record(record, masker)
            return record

        self._previous, self._factory = previous, factory
        logging.setLogRecordFactory(factory)

    def uninstall(self) -> None:
        """Restore the previous factory (if another was installed on top since, ours stays in its chain)."""
        if self._previous is not None and logging.getLogRecordFactory() is self._factory:
            logging.setLogRecordFactory(self._previous)
        self._previous = self._factory = None
