"""Replay a JSONL file of transactions into Kafka at a given rate.

Every line is validated with the contract's ``parse_transaction``. A valid
line is sent unchanged (key = its user id); an invalid one is reported
with its line number and reason and is not sent. Blank lines are skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fraudstream.records import InvalidRecord, parse_transaction
from fraudstream.simulator.producer import Counts, KafkaSink, Progress
from fraudstream.simulator.ratecontrol import RateController


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    detail: str


@dataclass
class ReplayReport:
    valid: int = 0
    blank: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)

    @property
    def complete(self) -> bool:
        return self.counts.delivered == self.valid and self.counts.failed == 0


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def replay(
    sink: KafkaSink,
    path: Path,
    *,
    rate: float | None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    flush_timeout: float = 60.0,
) -> ReplayReport:
    report = ReplayReport(counts=sink.counts)
    stop = stop or threading.Event()
    pacer = RateController(rate, clock=clock)
    pacer.start()
    try:
        for number, line in read_lines(path):
            if stop.is_set():
                break
            if not line.strip():
                report.blank += 1
                continue
            try:
                tx = parse_transaction(line)
            except InvalidRecord as exc:
                rejected = Rejected(number, exc.reason, exc.detail)
                report.rejected.append(rejected)
                if on_reject is not None:
                    on_reject(rejected)
                continue
            while pacer.allowance() == 0 and not stop.is_set():
                sink.poll()
                stop.wait(min(0.1, pacer.delay()))
            sink.send_raw(str(tx.user_id).encode(), line)
            report.valid += 1
            pacer.record(1)
            if report.valid % 1000 == 0:
                sink.poll()
            if progress is not None:
                progress.show(pacer.achieved(), sink.counts)
    finally:
        remaining = sink.flush(flush_timeout)
        if remaining:
            sink.counts.failed += remaining
            sink.counts.errors[f"{remaining} records still unacknowledged at exit"] += 1
        if progress is not None:
            progress.show(pacer.achieved(), sink.counts, final=True)
        sink.close()
    return report
