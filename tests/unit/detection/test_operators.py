"""The Validate operator on its own: what it emits for a valid and a rejected
record (no Flink runtime needed: it is a generator of rows)."""

from __future__ import annotations

import json
from typing import Any

from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.operators import BY_MERCHANT, REJECTED, Validate
from fraudstream.detection.rules import load_catalogue
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


def validate(max_amount: float = MAX_AMOUNT, merchant_rules: bool = False) -> Validate:
    """A Validate as Flink would open it, with in-memory state and counters
    (and the bundled catalogue's merchant filter with ``merchant_rules``)."""
    op = Validate("k", 3600, max_amount)
    if merchant_rules:
        op._admits = Engine(load_catalogue()).merchant_admits
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


def test_a_valid_record_is_keyed_by_its_user_and_carries_its_flags() -> None:
    out = run(validate(), {**RECORD, "country": "ZZ"})
    assert len(out) == 1
    user, row = out[0]
    tx = Tx(*row)
    assert user == RECORD["user_id"] == tx.user_id and len(tx.card_token) == 64
    assert tx.card_masked == "411111******1111" and tx.flags == "unknown_country"


def test_only_what_a_merchant_rule_admits_goes_to_the_merchant_side_output() -> None:
    probe = {**RECORD, "amount": 1.0, "channel": "online"}
    assert len(run(validate(), probe)) == 1  # no merchant rules: no side output
    out = run(validate(merchant_rules=True), probe)
    assert len(out) == 2 and out[0][0] == RECORD["user_id"]
    assert out[1][0] == BY_MERCHANT and out[1][1][0] == RECORD["merchant"]
    assert out[1][1][1] == out[0][1]  # the same transaction row
    # A purchase (not a small online probe) is no card-enumeration evidence.
    purchase = {**RECORD, "transaction_id": "1f8fad5b-d9cb-469f-a165-70867728950e"}
    assert len(run(validate(merchant_rules=True), purchase)) == 1


def test_an_identical_repeat_is_dropped_and_another_record_under_its_id_rejected() -> None:
    op = validate()
    assert len(run(op, RECORD)) == 1
    assert run(op, RECORD) == []
    out = run(op, {**RECORD, "amount": 43.0})
    assert len(out) == 1 and out[0][0] is REJECTED and out[0][1][0] == "duplicate_transaction_id"
