from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from fraudstream.bench.quality import QualityOptions, build_stream
from fraudstream.records import parse_transaction

OPTIONS = QualityOptions(seed=5, transactions=3000, per_scenario=2, lookalikes=1, span_seconds=5400)
NOW = 1_800_000_000.0


def test_stream_is_labelled_valid_and_in_the_past() -> None:
    stream = build_stream(OPTIONS, "run1", now=NOW)
    assert all(count == 2 for count in stream.scenarios.values())
    instances = {label.scenario_id: label.scenario for label in stream.labels}
    assert Counter(instances.values()) == Counter(stream.scenarios)
    ids = {tx_id for tx_id, _, _ in stream.records}
    assert len(ids) == len(stream.records)
    assert {label.transaction_id for label in stream.labels} <= ids
    triggers = {label.scenario_id for label in stream.labels if label.is_trigger}
    assert triggers == set(instances)
    when = datetime.fromtimestamp(NOW, UTC)
    for _, key, value in stream.records:
        tx = parse_transaction(value, now=when)
        assert tx.bank_id.endswith("-run1")
        assert key.decode() == str(tx.user_id)  # by user, never by card number
        assert tx.event_time.timestamp() <= NOW + 1
    assert stream.event_end == pytest.approx(NOW)


def test_same_seed_same_stream() -> None:
    first = build_stream(OPTIONS, "a", now=NOW)
    second = build_stream(OPTIONS, "a", now=NOW)
    assert [r[2] for r in first.records] == [r[2] for r in second.records]
    other = build_stream(
        QualityOptions(seed=6, transactions=3000, per_scenario=2, lookalikes=1, span_seconds=5400),
        "a",
        now=NOW,
    )
    assert [r[0] for r in other.records] != [r[0] for r in first.records]


def test_span_must_hold_the_longest_scenario() -> None:
    with pytest.raises(ValueError):
        build_stream(QualityOptions(span_seconds=600), "x", now=NOW)
