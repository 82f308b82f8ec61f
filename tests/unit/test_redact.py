"""No card number in clear leaves the transactions topic: what a rejected
record stores, what a valid one archives and alerts with, and what is logged."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream import records
from fraudstream.detection.engine.engine import Engine, alert_json
from fraudstream.detection.engine.profile import CardProfile
from fraudstream.detection.engine.tx import from_transaction
from fraudstream.detection.rules import load_catalogue
from fraudstream.redact import (
    DROPPED,
    MAX_STORED_BYTES,
    mask_card,
    mask_text,
    stored_payload,
)

NOW = datetime(2025, 12, 16, 11, 0, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "bank_id": "BANK_A",
    "payment_system": "VISA",
    "card_number": "4111111111111111",
    "user_id": 1234,
    "amount": 42.5,
    "currency": "USD",
    "merchant": "Acme Corp",
    "country": "US",
    "timestamp": "2025-12-16T10:30:45+00:00",
}


def stored(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return stored_payload(raw, records.KNOWN_FIELDS)


@pytest.mark.parametrize(
    "spelled",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111 - 1111 - 1111 - 1111",
        "4111.1111.1111.1111",
        "\\u0034\\u0031\\u0031\\u0031111111111111",
        "4111\\u00201111\\u002d1111 1111",
    ],
)
def test_any_spelling_is_masked_in_text(spelled: str) -> None:
    assert mask_text(f"card {spelled} exp 12/29") == "card 411111******1111 exp 12/29"


def test_short_runs_ordinary_numbers_and_uuids_are_left_alone() -> None:
    text = "amount 123456.78 on 2025-12-16T10:30:45, user 12345678901"
    assert mask_text(text) == text
    uuid = "0f8fad5b-d9cb-469f-a165-708677289501"
    assert mask_text(f"id {uuid}") == f"id {uuid}"
    assert mask_text("41111111-1111-1111-1111-111111111111") == "411111" + "*" * 22 + "1111"


def test_card_number_field_is_masked_by_structure() -> None:
    assert json.loads(stored({**GOOD, "amount": -1}))["card_number"] == "411111******1111"
    spaced = json.loads(stored({**GOOD, "card_number": "4111 1111 1111 1111", "amount": -1}))
    assert spaced["card_number"] == "411111******1111"
    # Not a number at all: every digit goes, the shape stays for the reader.
    odd = json.loads(stored({**GOOD, "card_number": "4111-1111-abcd-1111"}))
    assert odd["card_number"] == "****-****-abcd-****"
    assert json.loads(stored({**GOOD, "card_number": 4111111111111111}))["card_number"] == (
        "411111******1111"
    )


def test_values_outside_the_contract_are_dropped_keys_kept() -> None:
    record = {**GOOD, "amount": -1, "cvv": "123", "extra": {"pin": "1234"}, "merchant": ["x"]}
    kept = json.loads(stored(record))
    assert kept["cvv"] == DROPPED and kept["extra"] == DROPPED and kept["merchant"] == DROPPED
    assert kept["amount"] == -1 and kept["bank_id"] == "BANK_A"
    # Records inside an array are read the same way.
    assert json.loads(stored(json.dumps([record]).encode()))[0]["cvv"] == DROPPED


def test_stored_payload_is_capped_and_marked() -> None:
    huge = {**GOOD, "merchant": "x" * 50_000, "cvv": "1"}
    text = stored(huge)
    assert len(text.encode()) <= MAX_STORED_BYTES
    assert text.endswith("bytes received]") and "truncated" in text
    binary = b"\xff" * 30_000 + b" 4111 1111 1111 1111"
    text = stored(binary)
    assert len(text.encode()) <= MAX_STORED_BYTES and "truncated" in text
    small = stored(b"not json 4111 1111 1111 1111")
    assert small == "not json 411111******1111"


def test_mask_card_forms() -> None:
    assert mask_card("4111111111111111") == "411111******1111"
    assert mask_card("4111111111111") == "*********1111"
    assert mask_card("411") == "***"


# -- property: no spelling of a card number survives ---------------------------

_GROUP_SEPARATORS = (" ", "-", ".", " - ", "  ", "/", "_", "\u00a0", " -- ")
_SEPARATORS = (" ", "-", ".", "/", "_", "\u00a0")
_ESCAPED_SEPARATORS = ("\\u0020", "\\u002d", "\\u002D", "\\t")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(12, 19))
    first = draw(st.sampled_from("123456789"))
    rest = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return first + rest


@st.composite
def spellings(draw: st.DrawFn, pan: str, *, json_string: bool) -> str:
    """``pan`` as a producer might write it; with ``json_string`` the spelling
    sits inside a JSON string and may use JSON escapes."""
    style = draw(st.sampled_from(["plain", "groups", "scattered"]))
    escaped = _ESCAPED_SEPARATORS if json_string else ()
    seps = _SEPARATORS + escaped
    if style == "plain":
        digits = list(pan)
        joins = [""] * (len(pan) - 1)
    elif style == "groups":
        sep = draw(st.sampled_from(_GROUP_SEPARATORS + escaped))
        digits = list(pan)
        joins = [sep if (i + 1) % 4 == 0 else "" for i in range(len(pan) - 1)]
    else:
        digits = list(pan)
        joins = [
            "".join(draw(st.lists(st.sampled_from(seps), max_size=4))) for _ in range(len(pan) - 1)
        ]
    if json_string and draw(st.booleans()):
        which = draw(st.lists(st.booleans(), min_size=len(pan), max_size=len(pan)))
        digits = [f"\\u003{d}" if e else d for d, e in zip(digits, which, strict=True)]
    out = digits[0]
    for join, digit in zip(joins, digits[1:], strict=True):
        out += join + digit
    return out


def _json_text(value: str) -> str:
    """``value`` (already JSON-escaped where it wants to be) as a JSON string."""
    return '"' + value.replace('"', '\\"') + '"'


@st.composite
def malformed_records(draw: st.DrawFn) -> tuple[str, bytes]:
    pan = draw(card_numbers())
    in_json = draw(spellings(pan, json_string=True))
    bare = draw(spellings(pan, json_string=False))
    breakage = draw(
        st.sampled_from(
            ['"amount": -1', '"amount": "12"', '"payment_system": ""', '"user_id": null', ""]
        )
    )
    base = {k: v for k, v in GOOD.items() if k != "card_number" or breakage == ""}
    body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items())
    if breakage:
        body += ", " + breakage
    where = draw(
        st.sampled_from(
            [
                "card_number",
                "merchant",
                "transaction_id",
                "bank_id",
                "unknown",
                "key",
                "array",
                "not_json",
                "not_utf8",
                "oversized",
                "number",
            ]
        )
    )
    pad = "p" * draw(st.integers(0, 20_000)) if where == "oversized" else ""
    if where in ("card_number", "merchant", "transaction_id", "bank_id"):
        raw = "{" + body + f", {json.dumps(where)}: {_json_text(in_json)}" + "}"
    elif where == "unknown":
        name = draw(st.sampled_from(["cvv", "pan", "track2", "note"]))
        raw = "{" + body + f', "{name}": {_json_text(in_json)}' + "}"
    elif where == "key":
        raw = "{" + body + f", {_json_text(in_json)}: 1" + "}"
    elif where == "array":
        raw = "[{" + body + f', "merchant": {_json_text(in_json)}' + "}]"
    elif where == "number":
        raw = "{" + body + f', "card_number": {pan}, "x": {pan}' + "}"
    elif where == "oversized":
        raw = "{" + f'"pad": "{pad}", ' + body + f', "merchant": {_json_text(in_json)}' + "}"
    else:
        raw = "{" + body + f", card {bare} "
    data = raw.encode()
    if where == "not_utf8":
        data = b"\xff\xfe" + data + b"\xc3"
    return pan, data


def _normalised(text: str) -> str:
    """``text`` with JSON escapes of digits decoded and every separator removed:
    a card number anywhere in it is then one unbroken run of digits."""
    text = re.sub(r"\\u003([0-9])", r"\1", text)
    text = re.sub(r"\\u00(?:20|2[dDeEfF]|09|0[aAdD]|[aA]0|5[fF])|\\[tnr/]", "", text)
    return re.sub(r"[ \t\r\n\-./_\u00a0]", "", text)


ENGINE = Engine(load_catalogue())


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(malformed_records())
def test_no_card_number_survives_in_anything_stored_logged_or_alerted(
    case: tuple[str, bytes],
) -> None:
    pan, raw = case
    # Everything the project writes for this record, wherever it goes.
    out: list[str] = []
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        try:
            record = records.parse_transaction(raw, now=NOW)
        except records.InvalidRecord as exc:
            out += [stored_payload(raw, records.KNOWN_FIELDS), exc.detail, str(exc)]
        else:
            # Valid after all (a card number in free text): archived and
            # evaluated, so its archive row and its alerts must be clean.
            tx = from_transaction(dataclasses.replace(record, amount=9_999.0), "k", 0)
            out.append(json.dumps(tx._asdict()))
            profile = CardProfile.from_state(None)
            out += [alert_json(a) for a in ENGINE.card(profile, tx, 0)]
    finally:
        logging.getLogger().removeHandler(handler)
    out += handler.lines
    for text in out:
        assert pan not in _normalised(text), text


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
