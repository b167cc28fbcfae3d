"""Find and mask personal data: emails, phone numbers, card numbers, national ids and IBANs.

Masking applies to what Kefu keeps (stored trackers), writes (logs) and hands out (exported
stories). The tracker used during a turn is left intact, so the action server still receives the
real values it needs for the lookup in flight.

Detectors are deliberately strict so ordinary shop talk (order ids such as ``A12345``, prices,
sizes, dates) is left alone: card numbers must pass the Luhn check, Chinese resident ids their
ISO 7064 checksum, IBANs mod-97 (and their country's length), and phone numbers need an
international prefix (``+`` / ``00``), a country code or trunk ``0`` in a grouped layout, or the
shape of a Chinese mobile number (``1[3-9]`` and 11 digits).

Script-aware boundaries: Chinese, Japanese, Korean and Thai are written without spaces, so their
letters count as word characters for ``\\b`` / ``\\w`` while being, for a number, a boundary
(``手机13912345678谢谢``). A value is therefore bounded by anything but a letter or digit of a
space-separated script: digits glued to ASCII letters or digits (``A12345``) are never a match.
Full-width forms (``１３９…``, ``＋``, ``＠``), other decimal digits, Unicode spaces and dashes are
matched as their ASCII counterparts (the original text is what gets masked).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EMAIL = "email"
PHONE = "phone"
CARD = "card"
NATIONAL_ID = "national_id"
IBAN = "iban"
PII_KINDS = (EMAIL, CARD, IBAN, NATIONAL_ID, PHONE)  # detection order: the most specific first

# Letters of scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, Hangul, kana,
# CJK ideographs, Yi, half-width kana): word characters for ``\w``, but a boundary for a number or an address.
_SPACELESS = (
    "\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u31ff"
    "\u3200-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc"
    "\U0001b000-\U0001b16f\U00020000-\U0003134f"
)
_CJK = f"[{_SPACELESS}]"
_GLUE = rf"[^\W{_SPACELESS}]"  # a letter, digit or "_" of a space-separated script: glues to a value
# Each pattern starts with the value's first character, and the lookbehinds that bound it come after it
# (``(?<!X.)``): a pattern that starts with a character (class) lets the regex engine skip ahead to it.
_START = rf"(?<!{_GLUE}.)"  # the character just matched is not glued to the one before it
_END = rf"(?!{_GLUE})"
_LETTER = rf"[^\W\d_{_SPACELESS}]"  # a letter of a space-separated script (a Latin top-level domain)

# the local part in one script (so "邮箱是wang@..." gives "wang@..."), each domain label too
_LOCAL = rf"(?:(?<!{_GLUE})(?<![.%+-])(?:{_GLUE}|[.%+-])++|(?<!{_CJK}){_CJK}++)"
_LABEL = rf"(?:(?:{_GLUE}|-)++|{_CJK}++)"
_EMAIL_RE = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+(?:{_LETTER}{{2,}}+{_END}|{_CJK}++)")
_CARD_RE = re.compile(rf"[0-9]{_START}(?<![+-].)(?:[ -]?[0-9]){{12,18}}{_END}(?!-)")
_IBAN_RE = re.compile(rf"[A-Za-z]{_START}[A-Za-z][0-9]{{2}}(?: ?[A-Za-z0-9]){{11,30}}{_END}")
_NATIONAL_ID_RE = re.compile(rf"[0-9]{_START}(?<!-.)[0-9]{{16}}[0-9Xx]{_END}(?!-)")
_PHONE_INTL_RE = re.compile(
    rf"(?:\+{_START}(?<!\+.)(?<![0-9][ .-].)|0{_START}(?<!\+.)(?<![0-9][ .-].)0)"
    rf"[1-9][0-9]{{0,2}}(?:[ .-]?\(?[0-9]{{1,5}}\)?){{1,6}}{_END}(?!-)"
)
# a country code without its "+", then groups in one separator: 49 151 23456789, 44 7911 123456
_PHONE_COUNTRY_RE = re.compile(
    rf"[1-9]{_START}(?<![.,:/+-].)(?<![0-9][ .-].)[0-9]{{0,2}}([ .-])[0-9]{{1,4}}(?:\1[0-9]{{2,8}}){{1,4}}"
    rf"{_END}(?![.-]?[0-9])"
)
# a trunk "0", then groups in one separator: 020 7946 0958, 06 12 34 56 78, 030-1234567
_PHONE_TRUNK_RE = re.compile(
    rf"0{_START}(?<![.,:/+-].)(?<![0-9][ .-].)[0-9]{{1,4}}([ .-])[0-9]{{2,8}}(?:\1[0-9]{{2,8}}){{0,4}}"
    rf"{_END}(?![.-]?[0-9])"
)
# a Chinese mobile, bare or grouped 3-4-4: 13912345678, 139 1234 5678, 139-1234-5678
_PHONE_CN_MOBILE_RE = re.compile(rf"1{_START}(?<!-.)[3-9][0-9][ .-]?[0-9]{{4}}[ .-]?[0-9]{{4}}{_END}(?!-)")
# North American layouts: 415.555.2671, 415-555-2671, 415 555 2671, (415) 555-2671
_PHONE_NANP_RE = re.compile(
    rf"[0-9]{_START}(?<!-.)[0-9]{{2}}(?:[.-][0-9]{{3}}[.-]| [0-9]{{3}} )[0-9]{{4}}{_END}(?!-)"
)
_PHONE_AREA_RE = re.compile(rf"\({_START}(?<!-.)[0-9]{{2,5}}\)[ .-]?[0-9]{{3,4}}[ .-][0-9]{{3,4}}{_END}(?!-)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# the IBAN registry's length per country
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_GROUP_SEP_RE = re.compile(r"[ .-]")
_NON_DIGIT_RE = re.compile(r"[^0-9]")


class _AsciiForms(dict[int, int]):
    """``str.translate`` table, filled on first sight of a character: full-width forms and other
    decimal digits become ASCII, Unicode spaces a space, dashes and the minus sign "-"; one character
    for one, so offsets in the translated text are offsets in the original. At most ``limit`` characters
    are kept (then it starts afresh), so a stream of rare characters cannot grow it without end."""

    limit = 1 << 16

    def __missing__(self, code: int) -> int:
        if len(self) >= self.limit:
            self.clear()
        char = chr(code)
        digit = unicodedata.decimal(char, None)
        if digit is not None:
            out = 48 + digit
        elif 0xFF01 <= code <= 0xFF5E:
            out = code - 0xFEE0
        elif unicodedata.category(char) == "Zs":
            out = 32
        elif unicodedata.category(char) == "Pd" or code == 0x2212:
            out = 45
        else:
            out = code
        self[code] = out
        return out


_ASCII_FORMS = _AsciiForms()


def ascii_forms(text: str) -> str:
    """``text`` with full-width forms, non-ASCII digits, spaces and dashes as ASCII (same length)."""
    return text if text.isascii() else text.translate(_ASCII_FORMS)


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
    if not re.fullmatch(r"[0-9]{17}[0-9Xx]", number):
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def iban_ok(iban: str) -> bool:
    """An IBAN (any case, spaces ignored): known length for its country (when known) and the mod-97 check."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# A check gets the candidate (ASCII forms) and returns how many of its leading characters are the value (0: none).

def _iban_length(text: str) -> int:
    """An IBAN at the start of ``text``: its country's length is taken (so words after it are not), else all of it.

    Upper case is taken in any spacing; lower or mixed case (``de89 3704 ...``) only compact or in groups of
    four, and only for a country of the registry, so ordinary words after ``ab12`` never add up to one.
    """
    expected = _IBAN_LENGTHS.get(text[:2].upper())
    end = len(text)
    if expected is not None:
        seen = 0
        for index, char in enumerate(text):
            if char != " ":
                seen += 1
                if seen == expected:
                    end = index + 1
                    break
        if seen < expected or text[end:end + 1] not in ("", " "):
            return 0
    value = text[:end]
    if not iban_ok(value):
        return 0
    if value != value.upper():
        groups = value.split(" ")
        if expected is None or len(groups) > 1 and not (all(len(g) == 4 for g in groups[:-1]) and len(groups[-1]) <= 4):
            return 0
    return end


def _card_length(text: str) -> int:
    digits = _NON_DIGIT_RE.sub("", text)
    return len(text) if 13 <= len(digits) <= 19 and luhn_ok(digits) else 0


def _national_id_length(text: str) -> int:
    return len(text) if china_id_ok(text) else 0


def _phone_length(text: str) -> int:
    return len(text) if 8 <= len(_NON_DIGIT_RE.sub("", text)) <= 15 else 0


def _country_phone_length(text: str) -> int:
    """Country code and number, 11 to 13 digits, with a group of four or more digits (not ``38 40 42 44 46 48``)
    and not thousands (``12 345 678 901``)."""
    groups = _GROUP_SEP_RE.split(text)
    digits = sum(len(g) for g in groups)
    if not 11 <= digits <= 13 or max(len(g) for g in groups) < 4 or all(len(g) == 3 for g in groups[1:]):
        return 0
    return len(text)


def _trunk_phone_length(text: str) -> int:
    """Trunk "0" and number, 9 to 12 digits: with a group of three or more digits, or the French five pairs."""
    groups = _GROUP_SEP_RE.split(text)
    digits = sum(len(g) for g in groups)
    if not 9 <= digits <= 12:
        return 0
    if max(len(g) for g in groups) >= 3 or (len(groups) == 5 and all(len(g) == 2 for g in groups)):
        return len(text)
    return 0


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data found in a text."""

    kind: str
    start: int
    end: int
    value: str


_DETECTORS: tuple[tuple[str, re.Pattern[str], Any], ...] = (
    (EMAIL, _EMAIL_RE, None),
    (IBAN, _IBAN_RE, _iban_length),
    (NATIONAL_ID, _NATIONAL_ID_RE, _national_id_length),
    # phones with a country code before cards: such a number can pass the Luhn check
    (PHONE, _PHONE_INTL_RE, _phone_length),
    (PHONE, _PHONE_COUNTRY_RE, _country_phone_length),
    (CARD, _CARD_RE, _card_length),
    (PHONE, _PHONE_AREA_RE, _phone_length),
    (PHONE, _PHONE_TRUNK_RE, _trunk_phone_length),
    (PHONE, _PHONE_CN_MOBILE_RE, _phone_length),
    (PHONE, _PHONE_NANP_RE, _phone_length),
)


# every detector needs an "@" or a digit (any script's, full-width included): most chat lines skip them all
_MAYBE_PII_RE = re.compile(r"[@\uff20\d]")


def find_pii(text: str, kinds: Iterable[str] = PII_KINDS) -> list[PiiMatch]:
    """Non-overlapping PII spans in ``text``, in order (earlier detectors win overlaps).

    Matching runs on :func:`ascii_forms` of ``text`` (same offsets); ``value`` is the original text.
    """
    if not _MAYBE_PII_RE.search(text):
        return []
    wanted = set(kinds)
    plain = ascii_forms(text)
    has_at = "@" in plain
    found: list[PiiMatch] = []
    for kind, pattern, check in _DETECTORS:
        if kind not in wanted or (kind == EMAIL and not has_at):
            continue
        for match in pattern.finditer(plain):
            start = match.start()
            if any(m.start <= start < m.end for m in found):  # inside a value already found: skip the check
                continue
            value = match.group(0).rstrip(" .-")
            length = len(value) if check is None else check(value)
            if not length:
                continue
            end = start + length
            if any(m.start < end and start < m.end for m in found):
                continue
            found.append(PiiMatch(kind, start, end, text[start:end]))
    return sorted(found, key=lambda m: m.start)


def placeholder(kind: str) -> str:
    """What replaces a value of ``kind``: ``[EMAIL]``, ``[CARD]``, ..."""
    return f"[{kind.upper()}]"


def mask_text(text: str, kinds: Iterable[str] = PII_KINDS) -> str:
    """``text`` with every PII span of ``kinds`` replaced by its placeholder."""
    return _masked(text, find_pii(text, kinds))


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

    def _matches(self, value: str) -> list[PiiMatch]:
        return find_pii(value, self.settings.mask) if self.settings.mask else []

    def _value(self, value: Any, copies: Mapping[Any, Any] | None = None) -> Any:
        """Mask every string inside a slot or entity value (lists and dicts included).

        A number is masked as its digits would be (``13912345678`` sent as a JSON number); a value in
        ``copies`` (what was masked in the latest message's entities) gets the same masked value.
        """
        if copies and _hashable_scalar(value) and value in copies:
            return copies[value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            masked = self.text(str(value))
            return masked if masked != str(value) else value
        if isinstance(value, list):
            return [self._value(v, copies) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v, copies) for k, v in value.items()}
        return value

    def event(self, event: Mapping[str, Any], copies: dict[Any, Any] | None = None) -> dict[str, Any]:
        """A masked copy of one tracker event (user and bot text, parse data, entities, slots).

        Only what masking may change is copied (the event, its parse data, its entities, slot values);
        the rest (intent ranking, bot ``data``, metadata) is shared with ``event``, read-only: this runs
        over the whole conversation on every save, where deep copies cost more than the masking itself.

        An entity is masked like the text it was taken from: its value when the value itself holds PII,
        and its value and text entirely when its span lies in (or cuts into) a PII span of the message,
        so a part of a number an extractor cut out is not kept either. ``copies`` (see :meth:`events`)
        collects the raw entity values of the latest user message so masked, so that a slot set from one
        is masked the same way.
        """
        out = dict(event)
        kind = out.get("event")
        text = out.get("text")
        matches: list[PiiMatch] = []
        if kind in ("user", "bot") and isinstance(text, str):
            matches = self._matches(text)
            out["text"] = _masked(text, matches)
        if kind == "user":
            if copies is not None:
                copies.clear()  # slots are filled from the latest message's entities
            parse = out.get("parse_data")
            if isinstance(parse, dict):
                parse = out["parse_data"] = dict(parse)
                parsed = parse.get("text")
                if isinstance(parsed, str):
                    if parsed != text:
                        matches = self._matches(parsed)
                    parse["text"] = _masked(parsed, matches)
                if isinstance(parse.get("entities"), list):
                    parse["entities"] = [dict(e) if isinstance(e, dict) else e for e in parse["entities"]]
                    for entity in parse["entities"]:
                        if isinstance(entity, dict):
                            self._mask_entity(entity, matches, copies)
        if kind == "slot":
            name = out.get("name")
            if name in self.settings.mask_slots:
                out["value"] = placeholder(str(name)) if out.get("value") is not None else None
            elif name not in self.settings.keep_slots:
                out["value"] = self._value(out.get("value"), copies)
        return out

    def _mask_entity(self, entity: dict[str, Any], matches: list[PiiMatch], copies: dict[Any, Any] | None) -> None:
        value = entity.get("value")
        if entity.get("entity") in self.settings.mask_entities:
            entity["value"] = placeholder(str(entity["entity"]))
            if isinstance(entity.get("text"), str):
                entity["text"] = self.text(entity["text"])
            return
        cut = _cut_from(entity, matches)
        if cut is not None:
            entity["value"] = None if value is None else placeholder(cut.kind)
            if isinstance(entity.get("text"), str):
                entity["text"] = placeholder(cut.kind)
        else:
            entity["value"] = self._value(value)
            if isinstance(entity.get("text"), str):
                entity["text"] = self.text(entity["text"])
        if copies is not None and _hashable_scalar(value) and entity["value"] != value:
            copies[value] = entity["value"]

    def events(self, events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Masked copies of a conversation's events; a slot set from a masked entity value is masked alike."""
        copies: dict[Any, Any] = {}
        return [self.event(e, copies) for e in events]


def _hashable_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _masked(text: str, matches: list[PiiMatch]) -> str:
    """``text`` with ``matches`` (from :func:`find_pii` on it) replaced by their placeholders."""
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


def _cut_from(entity: Mapping[str, Any], matches: list[PiiMatch]) -> PiiMatch | None:
    """The PII match whose span the entity's span lies in or cuts into (not one it merely contains whole,
    as a ``/intent{...}`` payload's entities span the whole JSON: their values are masked by value)."""
    start, end = entity.get("start"), entity.get("end")
    if not matches or not isinstance(start, int) or not isinstance(end, int) or end <= start:
        return None
    for match in matches:
        if start < match.end and match.start < end and not (start <= match.start and match.end <= end
                                                             and (start, end) != (match.start, match.end)):
            return match
    return None


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
