"""The drain bench's pure parts: the limited record source and the steady rate."""

from __future__ import annotations

import pytest

from fraudstream.bench.drain import _Limited, _steady_rate
from fraudstream.bench.loadgen import LoadShape, TransactionFactory


def test_limited_source_stops_after_its_count() -> None:
    source = _Limited(TransactionFactory(LoadShape(bank_id="B")), 3)
    made = [source.make() for _ in range(3)]
    assert len({tx_id for tx_id, *_ in made}) == 3
    with pytest.raises(StopIteration):
        source.make()


def test_steady_rate_leaves_out_start_up_and_tail() -> None:
    # Nothing for 5 s (start-up), then 100 rows/s.
    samples = [(float(t), max(0, (t - 5) * 100)) for t in range(0, 20)]
    assert _steady_rate(samples, 1000) == pytest.approx(100.0)


def test_steady_rate_unknown_when_the_backlog_was_not_worked_through() -> None:
    assert _steady_rate([(1.0, 50), (2.0, 80)], 1000) is None
    assert _steady_rate([], 1000) is None
