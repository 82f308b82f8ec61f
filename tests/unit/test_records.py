from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fraudstream import records

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
NOW = datetime(2025, 12, 16, 11, 0, tzinfo=UTC)


def test_contract_record_round_trips() -> None:
    tx = records.parse_transaction(json.dumps(GOOD).encode(), now=NOW)
    assert tx.to_dict() == GOOD
    assert json.loads(tx.to_json()) == GOOD
    assert tuple(GOOD) == records.CONTRACT_FIELDS


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": 0}, "bad_amount"),
        ({"amount": -3.0}, "bad_amount"),
        ({"amount": "12"}, "wrong_type"),
        ({"amount": True}, "wrong_type"),
        ({"user_id": 1.5}, "wrong_type"),
        ({"payment_system": "12"}, "bad_payment_system"),
        ({"payment_system": ""}, "bad_payment_system"),
        ({"card_number": "41111111abc11111"}, "bad_card_number"),
        ({"card_number": "41111"}, "bad_card_number"),
        ({"country": "USA"}, "bad_country"),
        ({"currency": "US$"}, "bad_currency"),
        ({"country": "4"}, "bad_country"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"amount": 1_000_000.01}, "amount_above_maximum"),
        ({"timestamp": "2026-12-16T10:30:45+00:00"}, "future_timestamp"),
        ({"transaction_id": "42"}, "bad_transaction_id"),
        ({"merchant": "  "}, "bad_merchant"),
    ],
)
def test_invalid_values_are_rejected_with_a_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(records.InvalidRecord) as err:
        records.validate_transaction({**GOOD, **change}, now=NOW)
    assert err.value.reason == reason


@pytest.mark.parametrize("name", records.CONTRACT_FIELDS)
def test_missing_field(name: str) -> None:
    data = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(records.InvalidRecord) as err:
        records.validate_transaction(data, now=NOW)
    assert err.value.reason == "missing_field"
    assert name in str(err.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (b"{" + b" " * 9000 + b"}", "oversized"),
    ],
)
def test_undecodable_payloads(raw: bytes, reason: str) -> None:
    with pytest.raises(records.InvalidRecord) as err:
        records.parse_transaction(raw, now=NOW)
    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("change", "flags"),
    [
        ({}, ()),
        ({"card_number": "4111111111111112"}, ("luhn",)),
        ({"card_number": "5500000000000004"}, ("network_mismatch",)),  # MasterCard, says VISA
        (
            {"card_number": "4111111111111112", "payment_system": "AMEX"},
            ("luhn", "network_mismatch"),
        ),
        ({"payment_system": "DINERS"}, ("unknown_payment_system",)),
        ({"currency": "XYZ"}, ("unknown_currency",)),
        ({"country": "ZZ"}, ("unknown_country",)),
        ({"country": "XK", "currency": "XXY"}, ("unknown_currency", "unknown_country")),
    ],
)
def test_suspicious_records_are_flagged_not_rejected(
    change: dict[str, Any], flags: tuple[str, ...]
) -> None:
    tx = records.parse_transaction(json.dumps({**GOOD, **change}).encode(), now=NOW)
    assert records.quality_flags(tx) == flags


def test_the_published_format_and_the_original_producer_are_accepted() -> None:
    """Payment systems in any letter case (stored in one spelling), a timestamp
    without an offset read as UTC, card numbers with separators, and the
    original producer's random "4..." numbers for every network."""
    for written, stored in (("MasterCard", "MASTERCARD"), ("visa", "VISA"), ("Amex", "AMEX")):
        tx = records.parse_transaction(
            json.dumps({**GOOD, "payment_system": written}).encode(), now=NOW
        )
        assert tx.payment_system == stored
    naive = records.parse_transaction(
        json.dumps({**GOOD, "timestamp": "2025-12-16T10:30:45"}).encode(), now=NOW
    )
    assert naive.event_time.isoformat() == "2025-12-16T10:30:45+00:00"
    spaced = records.parse_transaction(
        json.dumps({**GOOD, "card_number": "4111 1111-1111 1111"}).encode(), now=NOW
    )
    assert spaced.card_number == "4111111111111111"
    original = records.parse_transaction(
        json.dumps(
            {**GOOD, "payment_system": "MasterCard", "card_number": "4123456789012345"}
        ).encode(),
        now=NOW,
    )
    assert set(records.quality_flags(original)) <= {"luhn", "network_mismatch"}
    assert "network_mismatch" in records.quality_flags(original)


def test_codes_are_normalised_to_upper_case() -> None:
    tx = records.parse_transaction(
        json.dumps({**GOOD, "currency": " eur", "country": "de"}).encode(), now=NOW
    )
    assert (tx.currency, tx.country) == ("EUR", "DE")
    assert records.quality_flags(tx) == ()


def test_networks_and_luhn() -> None:
    assert records.network_of("4111111111111111") == "VISA"
    assert records.network_of("5555555555554444") == "MASTERCARD"
    assert records.network_of("2221000000000009") == "MASTERCARD"
    assert records.network_of("378282246310005") == "AMEX"
    assert records.network_of("6011111111111117") is None
    assert records.luhn_valid("378282246310005")
    assert not records.luhn_valid("378282246310006")


def test_masking_keeps_first_six_and_last_four() -> None:
    assert records.mask_card("4111111111111111") == "411111******1111"
    assert records.mask_card("378282246310005") == "378282*****0005"
    # A short number shows its last four only: six and four of twelve would
    # leave two digits to guess.
    assert records.mask_card("411111111234") == "********1234"


def test_token_is_an_hmac_and_alert_id_is_deterministic() -> None:
    token = records.card_token("4111111111111111", "k")
    assert token == hmac.new(b"k", b"4111111111111111", hashlib.sha256).hexdigest()
    assert token != hashlib.sha256(b"k:4111111111111111").hexdigest()
    assert records.card_token("4111111111111111", "other") != token
    assert records.alert_id("velocity", "t-1") == hashlib.md5(b"velocity:t-1").hexdigest()
    assert records.alert_id("velocity", "t-1") != records.alert_id("velocity", "t-2")


def test_alert_round_trip() -> None:
    alert = records.Alert(
        alert_id="a",
        rule_id="r",
        rule_type="high_amount",
        severity="high",
        score=0.9,
        reason="amount 9000 USD above limit 5000",
        transaction_id="t",
        card_masked="411111******1111",
        card_token="tok",
        bank_id="BANK_A",
        user_id=1,
        amount=9000.0,
        currency="USD",
        merchant="m",
        country="US",
        payment_system="VISA",
        event_time="2025-12-16T10:30:45Z",
        detected_at="2025-12-16T10:30:45.050Z",
        evidence=("t",),
    )
    assert records.Alert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert


def test_the_maximum_amount_is_a_parameter() -> None:
    raw = json.dumps({**GOOD, "amount": 500.0}).encode()
    assert records.parse_transaction(raw, now=NOW, max_amount=500.0).amount == 500.0
    with pytest.raises(records.InvalidRecord) as err:
        records.parse_transaction(raw, now=NOW, max_amount=499.99)
    assert err.value.reason == "amount_above_maximum"


def test_every_reason_the_code_gives_is_listed() -> None:
    """REJECT_REASONS (what docs/CONTRACT.md lists) is exactly the set of
    reasons records.py can raise."""
    source = Path(records.__file__).read_text()
    raised = set(re.findall(r'InvalidRecord\(\s*"([a-z_]+)"', source))
    assert raised == set(records.REJECT_REASONS)
    assert len(records.REJECT_REASONS) == len(set(records.REJECT_REASONS))


def test_a_detail_never_quotes_a_card_number() -> None:
    with pytest.raises(records.InvalidRecord) as err:
        records.validate_transaction({**GOOD, "transaction_id": "4111 1111 1111 1111"}, now=NOW)
    assert "4111 1111 1111 1111" not in str(err.value)
    assert "411111******1111" in err.value.detail


def test_card_numbers_typed_into_free_text_are_masked() -> None:
    tx = records.validate_transaction(
        {**GOOD, "merchant": "Shop 4111-1111-1111-1111", "channel": "4111111111111111"}, now=NOW
    )
    assert tx.merchant == "Shop 411111******1111"
    assert tx.channel == "411111******1111"
