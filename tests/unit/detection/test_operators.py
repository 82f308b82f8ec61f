"""The Validate operator on its own: what it emits for a valid and a rejected
record (no Flink runtime needed: it is a generator of rows)."""

from __future__ import annotations

import json
from typing import Any

from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.operators import BY_MERCHANT, BY_USER, REJECTED, Validate
from fraudstream.records import MAX_AMOUNT
from fraudstream.redact import DROPPED

RECORD: dict[str, Any] = {
    "transaction_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "bank_id": "BANK_A",
    "payment_system": "VISA",
    "card_number": "4111 1111 1111 1111",
    "user_id": 1234,
    "amount": 42.5,
    "currency": "USD",
    "merchant": "Acme Corp",
    "country": "US",
    "timestamp": "2025-12-16T10:30:45+00:00",
}
KAFKA_MS = 1_765_881_000_000  # 2025-12-16T10:30:00Z


class _State:
    """The one-value keyed state Validate keeps per transaction id."""

    def __init__(self) -> None:
        self._value: Any = None

    def value(self) -> Any:
        return self._value

    def update(self, value: Any) -> None:
        self._value = value


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


def validate(max_amount: float = MAX_AMOUNT, by_user: bool = False, by: bool = False) -> Validate:
    """A Validate as Flink would open it, with in-memory state and counters."""
    op = Validate("k", 3600, max_amount, by_user=by_user, by_merchant=by)
    op._seen = _State()
    op._repeats = _Counter()
    op._conflicts = _Counter()
    return op


def run(validate: Validate, record: dict[str, Any]) -> list[Any]:
    value = (json.dumps(record).encode(), 2, 17, KAFKA_MS)
    return list(validate.process_element(value, None))


def test_a_rejected_record_is_stored_masked_and_without_unknown_values() -> None:
    out = run(validate(max_amount=100.0), {**RECORD, "amount": 100.5, "cvv": "123"})
    assert len(out) == 1 and out[0][0] is REJECTED
    row = out[0][1]
    assert row[0] == "amount_above_maximum"
    stored = json.loads(row[2])
    assert stored["card_number"] == "411111******1111" and stored["cvv"] == DROPPED
    assert (row[3], row[4], row[5]) == (2, 17, KAFKA_MS)


def test_a_valid_record_is_keyed_by_its_token_and_carries_its_flags() -> None:
    out = run(validate(), {**RECORD, "country": "ZZ"})
    assert len(out) == 1
    token, row = out[0]
    tx = Tx(*row)
    assert len(token) == 64 and tx.card_token == token
    assert tx.card_masked == "411111******1111" and tx.flags == "unknown_country"


def test_validate_emits_the_user_and_merchant_keys_only_when_asked() -> None:
    plain = run(validate(), RECORD)
    assert len(plain) == 1 and plain[0][1][5] == RECORD["user_id"]  # (card token, tx)
    both = run(validate(by_user=True, by=True), RECORD)
    assert both[0] == plain[0]
    assert both[1][0] == BY_USER and both[1][1][0] == RECORD["user_id"]
    assert both[2][0] == BY_MERCHANT and both[2][1][0] == RECORD["merchant"]
    assert both[1][1][1] == both[2][1][1] == plain[0][1]  # the same transaction row


def test_an_identical_repeat_is_dropped_and_another_record_under_its_id_rejected() -> None:
    op = validate()
    assert len(run(op, RECORD)) == 1
    assert run(op, RECORD) == []
    out = run(op, {**RECORD, "amount": 43.0})
    assert len(out) == 1 and out[0][0] is REJECTED and out[0][1][0] == "duplicate_transaction_id"
