"""The Validate operator on its own: what it emits for a valid and a rejected
record (no Flink runtime needed: it is a generator of rows)."""

from __future__ import annotations

import json
from typing import Any

from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.operators import REJECTED, Validate
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


def validate(max_amount: float | None = None) -> Validate:
    """A Validate as Flink would open it, with in-memory state and counters."""
    op = Validate("k", 3600) if max_amount is None else Validate("k", 3600, max_amount)
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
