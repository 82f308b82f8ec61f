from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from fraudstream.records import parse_transaction
from fraudstream.simulator.banks import Bank
from fraudstream.simulator.generator import Generator
from fraudstream.simulator.producer import Counts, FileSink, labels_path_for, run
from fraudstream.simulator.rows import Label, Row

BANKS = [Bank("S1", 5.0, 1, 60, {"US": 1.0}), Bank("S2", 3.0, 100, 139, {"FR": 1.0})]
START = 1_770_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeSink:
    """Records what it is given; each poll advances the fake clock a little."""

    def __init__(self, clock: FakeClock, stop_after: int | None = None) -> None:
        self.counts = Counts()
        self.rows: list[tuple[Row, Label | None]] = []
        self.clock = clock
        self.flushed = self.closed = False
        self.stop_after = stop_after
        self.stop = threading.Event()

    def send(self, rows: list[tuple[Row, Label | None]]) -> None:
        self.rows.extend(rows)
        self.counts.sent += len(rows)
        self.counts.delivered += len(rows)
        if self.stop_after is not None and self.counts.sent >= self.stop_after:
            self.stop.set()

    def poll(self) -> None:
        self.clock.now += 0.01

    def flush(self, timeout: float) -> int:
        self.flushed = True
        return 0

    def close(self) -> None:
        self.closed = True


class SleepingEvent(threading.Event):
    """An event whose wait() advances the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.now += timeout or 0.0
        return self.is_set()


def test_run_holds_the_rate_for_a_duration() -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    gen = Generator(BANKS, seed=1, start=START)
    counts = run(gen, sink, rate=80.0, duration=30.0, stop=SleepingEvent(clock), clock=clock)
    assert counts.sent == pytest.approx(80 * 30, abs=2)
    assert sink.flushed and sink.closed


@pytest.mark.parametrize("rate", [1.0, 7.5, 80.0, 2000.0])
def test_run_stops_at_count(rate: float) -> None:
    clock = FakeClock()
    sink = FakeSink(clock)
    gen = Generator(BANKS, seed=1, start=START)
    counts = run(gen, sink, rate=rate, count=37, stop=SleepingEvent(clock), clock=clock)
    assert counts.sent == len(sink.rows) == 37
    assert clock.now == pytest.approx(36 / rate, abs=0.1 + 0.02 * 36 / rate)


def test_run_stops_on_request_and_flushes() -> None:
    clock = FakeClock()
    sink = FakeSink(clock, stop_after=10)
    gen = Generator(BANKS, seed=1, start=START)
    stop = SleepingEvent(clock)
    sink.stop = stop
    counts = run(gen, sink, rate=5.0, stop=stop, clock=clock)
    assert counts.sent >= 10
    assert sink.flushed and sink.closed


def test_unflushed_records_count_as_failed() -> None:
    class Stuck(FakeSink):
        def flush(self, timeout: float) -> int:
            return 3

    clock = FakeClock()
    sink = Stuck(clock)
    counts = run(Generator(BANKS, start=START), sink, rate=None, count=10, clock=clock)
    assert counts.failed == 3
    assert "unacknowledged" in counts.error_summary()


def test_file_sink_writes_valid_jsonl_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "out.jsonl"
    sink = FileSink(path, labels_path_for(path))
    gen = Generator(BANKS, seed=2, fraud_rate=0.1, start=START)
    counts = run(gen, sink, rate=None, count=500)
    lines = path.read_bytes().splitlines()
    assert len(lines) == counts.sent == 500
    ids = [parse_transaction(line).transaction_id for line in lines]
    labels = [json.loads(x) for x in labels_path_for(path).read_text().splitlines()]
    assert labels and counts.labels == len(labels)
    assert {label["transaction_id"] for label in labels} <= set(ids)
    assert labels_path_for(Path("a/b.jsonl")) == Path("a/b.labels.jsonl")


def test_broker_errors_are_counted_and_reported() -> None:
    from fraudstream.config import Settings
    from fraudstream.platform.ports import free_port
    from fraudstream.simulator.producer import KafkaSink

    # Nothing listens there: every record times out and is reported failed.
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    sink = KafkaSink(settings, "nowhere", config={"message.timeout.ms": 1500})
    gen = Generator(BANKS, seed=1, start=START)
    counts = run(gen, sink, rate=None, count=20, flush_timeout=20)
    assert counts.sent == 20
    assert counts.failed == 20 and counts.delivered == 0
    assert "timed out" in counts.error_summary().lower()
