"""Card numbers never leave the ``transactions`` topic in clear.

Two tools, both pure:

- ``mask_text`` masks every run of 12 or more digits in a text, however it is
  written: unbroken, grouped with spaces, dashes, dots, slashes or
  underscores (up to four such characters between two digits), or spelled
  with JSON escapes (``\\u0034``). A UUID is kept as it is. A run keeps the
  display form of ``mask_card`` (first six and last four digits of a run of
  15 or more, the last four of a shorter one).
- ``stored_payload`` is what the project keeps of a record it rejected (the
  dead-letter topic and ``rejected_records``): the ``card_number`` field masked
  by structure, the values of fields outside the contract dropped (their keys
  kept), every digit run masked, and the whole capped at ``MAX_STORED_BYTES``
  and marked when cut.

Neither runs for a valid record's payload: the job masks only what it rejects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, Final

import orjson

MAX_STORED_BYTES: Final = 8192
"""The largest payload stored for a rejected record (bytes of UTF-8)."""
MAX_PARSED_BYTES: Final = 1 << 20
"""Rejected payloads up to this size are read as JSON to mask by field; larger
ones (beyond Kafka's default message limit) are masked as text only."""
DROPPED: Final = "<dropped>"
"""Stored in place of the value of a field outside the contract."""
TRUNCATED: Final = "…[truncated: {size} bytes received]"
CARD_FIELD: Final = "card_number"

_DIGIT: Final = r"(?:[0-9]|\\u003[0-9])"
_SEPARATOR: Final = (
    r"(?:[ \t\r\n\-./_\u00a0]|\\u00(?:20|2[dDeEfF]|09|0[aAdD]|[aA]0|5[fF])|\\[tnr/])"
)
_RUN: Final = re.compile(rf"{_DIGIT}(?:{_SEPARATOR}{{0,4}}{_DIGIT}){{11,}}")
# A UUID (a transaction id) is not a card number even when one of its groups
# is a long run of digits; one written with digits only is masked all the same.
_UUID: Final = (
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![0-9A-Za-z])"
)
_RUN_OR_UUID: Final = re.compile(rf"(?P<uuid>{_UUID})|{_RUN.pattern}")
_HEX_LETTER: Final = re.compile(r"[a-fA-F]")
_ESCAPED_DIGIT: Final = re.compile(r"\\u003([0-9])")
_ESCAPED_SEPARATOR: Final = re.compile(r"\\u[0-9a-fA-F]{4}|\\[tnr/]")
_NOT_DIGIT: Final = re.compile(r"[^0-9]")


def mask_card(number: str) -> str:
    """A card number's display form: the first six and last four digits of a
    number of 15 or more digits, the last four of a shorter one, the rest ``*``."""
    length = len(number)
    if length >= 15:
        return number[:6] + "*" * (length - 10) + number[-4:]
    if length >= 8:
        return "*" * (length - 4) + number[-4:]
    return "*" * length


def _mask_run(match: re.Match[str]) -> str:
    # Escaped digits become digits; escaped separators (whose hex has digits
    # of its own) go before the rest of the separators.
    text = _ESCAPED_SEPARATOR.sub("", _ESCAPED_DIGIT.sub(r"\1", match.group(0)))
    return mask_card(_NOT_DIGIT.sub("", text))


def _mask_match(match: re.Match[str]) -> str:
    if match.group("uuid") is None:
        return _mask_run(match)
    uuid = match.group(0)
    return uuid if _HEX_LETTER.search(uuid) else _RUN.sub(_mask_run, uuid)


def mask_text(text: str) -> str:
    """``text`` with every run of 12+ digits (up to four separators or JSON
    escapes between two digits) in its masked display form; UUIDs are kept."""
    return _RUN_OR_UUID.sub(_mask_match, text)


def mask_free_text(text: str) -> str:
    """``mask_text`` for a valid record's free-text field (already decoded, no
    JSON escapes), cheap when there is nothing to mask: the job's hot path."""
    if len(text) < 12 or _RUN.search(text) is None:
        return text
    return mask_text(text)


def _masked_card_field(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return DROPPED
    digits = _NOT_DIGIT.sub("", value)
    if digits and len(digits) == len(value.replace(" ", "").replace("-", "")):
        return mask_card(digits)
    return re.sub(r"[0-9]", "*", value)


def _clean_record(data: dict[str, Any], known: Collection[str]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key == CARD_FIELD:
            clean[key] = _masked_card_field(value)
        elif key not in known or isinstance(value, dict | list):
            # Unknown fields (a cvv, a track) and nested values of known ones
            # are not ours to keep: the key says what came, not its value.
            clean[key] = DROPPED
        else:
            clean[key] = value
    return clean


def _clean(data: Any, known: Collection[str]) -> Any:
    if isinstance(data, dict):
        return _clean_record(data, known)
    if isinstance(data, list):
        return [_clean(item, known) for item in data]
    return data


def _readable(raw: bytes, known: Collection[str]) -> tuple[str, bool]:
    """The payload as text to mask, and whether that text is all of it."""
    if len(raw) <= MAX_PARSED_BYTES:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            text = json.dumps(_clean(data, known), ensure_ascii=False, separators=(",", ":"))
            return text, True
    # Not JSON (or too large to read): text, invalid UTF-8 replaced. Only what
    # can be stored is read, with a margin: a digit run straddling the stored
    # length is wholly inside the margin, so it is masked before the cut.
    head = raw[: 2 * MAX_STORED_BYTES]
    return head.decode("utf-8", errors="replace"), len(head) == len(raw)


def stored_payload(raw: bytes, known: Collection[str]) -> str:
    """What is stored of a rejected record: no card number in clear, no value
    of a field outside ``known``, at most ``MAX_STORED_BYTES`` of UTF-8 (cut
    and marked ``…[truncated: N bytes received]`` when longer)."""
    text, complete = _readable(raw, known)
    text = mask_text(text).replace("\x00", "")
    encoded = text.encode()
    if complete and len(encoded) <= MAX_STORED_BYTES:
        return text
    mark = TRUNCATED.format(size=len(raw))
    room = MAX_STORED_BYTES - len(mark.encode())
    return encoded[:room].decode("utf-8", errors="ignore") + mark
