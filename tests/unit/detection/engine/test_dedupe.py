"""The first record with a transaction id wins: fingerprints and verdicts, and
the validating operator's handling of repeats (its Flink state stood in for
by a dictionary)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fraudstream.detection.engine import dedupe
from fraudstream.detection.engine.tx import Tx

RECORD = {
    "transaction_id": "0b7e7c52-3f7e-4f43-9d0c-0f4b1c2d3e4f",
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


def _tx(**changes: Any) -> Tx:
    base = Tx(
        transaction_id=RECORD["transaction_id"],
        bank_id="BANK_A",
        payment_system="VISA",
        card_masked="411111******1111",
        card_token="t" * 64,
        user_id=1234,
        amount=42.5,
        currency="USD",
        merchant="Acme Corp",
        country="US",
        event_ms=1_765_881_045_000,
        merchant_category=None,
        channel=None,
        ingested_ms=1_765_881_046_000,
    )
    return base._replace(**changes)


def test_fingerprint_is_stable_and_ignores_the_ingestion_time() -> None:
    assert dedupe.fingerprint(_tx()) == dedupe.fingerprint(_tx(ingested_ms=1))
    # Stable across processes (not Python's salted hash): a fixed value.
    assert dedupe.fingerprint(_tx()) == dedupe.fingerprint(_tx())
    assert -(2**63) <= dedupe.fingerprint(_tx()) < 2**63


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 42.51},
        {"bank_id": "BANK_B"},
        {"user_id": 1},
        {"card_token": "u" * 64},
        {"event_ms": 1_765_881_045_001},
        {"merchant": "Acme Corp."},
        {"channel": "web"},
        {"merchant_category": ""},
    ],
)
def test_any_archived_field_changes_the_fingerprint(change: dict[str, Any]) -> None:
    assert dedupe.fingerprint(_tx(**change)) != dedupe.fingerprint(_tx())


def test_verdicts() -> None:
    assert dedupe.judge(None, 5) is dedupe.Verdict.FIRST
    assert dedupe.judge(5, 5) is dedupe.Verdict.REPEAT
    assert dedupe.judge(5, 6) is dedupe.Verdict.CONFLICT


# -- the operator ------------------------------------------------------------


class _State:
    def __init__(self, store: dict[str, int], key: str) -> None:
        self.store, self.key = store, key

    def value(self) -> int | None:
        return self.store.get(self.key)

    def update(self, value: int) -> None:
        self.store[self.key] = value


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class _Context:
    """What Validate asks of Flink's runtime context: keyed state, counters."""

    def __init__(self) -> None:
        self.store: dict[str, int] = {}
        self.key = ""
        self.counters: dict[str, _Counter] = {}
        self.ttl_s: int | None = None

    def get_state(self, descriptor: Any) -> _State:
        self.ttl_s = descriptor._ttl_config.get_ttl().to_milliseconds() // 1000
        context = self

        class _Keyed(_State):
            def value(self) -> int | None:
                return context.store.get(context.key)

            def update(self, value: int) -> None:
                context.store[context.key] = value

        return _Keyed(self.store, self.key)

    def get_metrics_group(self) -> Any:
        context = self

        class _Group:
            def counter(self, name: str) -> _Counter:
                return context.counters.setdefault(name, _Counter())

        return _Group()


def _run(records: list[bytes]) -> tuple[list[Any], _Context]:
    pytest.importorskip("pyflink")
    from fraudstream.detection import operators

    op = operators.Validate("token-key", 7200)
    context = _Context()
    op.open(context)
    out: list[Any] = []
    for offset, payload in enumerate(records):
        try:
            context.key = json.loads(payload)["transaction_id"]
        except (ValueError, KeyError):
            context.key = f"@{offset}"
        out.extend(op.process_element((payload, 0, offset, 1_765_881_046_000), None))
    return out, context


def test_identical_repeat_is_dropped_other_content_rejected() -> None:
    from fraudstream.detection import operators

    first = json.dumps(RECORD).encode()
    # The same transaction re-sent: keys reordered, another letter case, a
    # separated card number. Nothing to archive or evaluate again.
    resent = json.dumps(
        {**dict(reversed(list(RECORD.items()))), "payment_system": "visa"}
        | {"card_number": "4111 1111 1111 1111"}
    ).encode()
    other = json.dumps({**RECORD, "bank_id": "BANK_B", "amount": 99.0}).encode()
    out, context = _run([first, resent, other, first])

    valid = [row for row in out if not isinstance(row, tuple)]
    rejected = [row for tag, row in (r for r in out if isinstance(r, tuple))]
    assert len(valid) == 1 and valid[0][1][1] == "BANK_A"
    assert [r[0] for r in rejected] == [dedupe.REASON]
    assert RECORD["transaction_id"] in rejected[0][1]
    assert rejected[0][4] == 2
    assert "4111111111111111" not in rejected[0][2]  # redacted like any reject
    assert all(tag is operators.REJECTED for tag, _ in (r for r in out if isinstance(r, tuple)))
    assert context.counters["duplicatesDropped"].count == 2
    assert context.counters["duplicatesRejected"].count == 1
    assert context.ttl_s == 7200


def test_invalid_records_leave_no_state() -> None:
    bad = json.dumps({**RECORD, "amount": -1}).encode()
    out, context = _run([b"{not json", bad, json.dumps(RECORD).encode()])
    reasons = [row[0] for tag, row in (r for r in out if isinstance(r, tuple))]
    assert reasons == ["not_json", "bad_amount"]
    # The invalid record with the id did not claim it: the valid one is first.
    assert sum(1 for r in out if not isinstance(r, tuple)) == 1
    assert list(context.store) == [RECORD["transaction_id"]]
