"""What ``bench chaos`` checks, as pure logic: is a sink current, what was lost.

A sink (the archive, the alerts topic) is *current* at time ``t`` when it
holds everything that should be there for the transactions appended to Kafka
before ``t - within``. ``Currency`` follows that with a cursor over the
acknowledged transactions in append order, so each check only looks at what
arrived since the last one. The final reconciliation compares sets of ids.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fraudstream.bench.metrics import LatencySummary


@dataclass(frozen=True)
class Expected:
    """An alert the labelled stream must raise, and the transaction that raises it."""

    alert_id: str
    trigger: str
    rule_id: str


class Currency:
    """Cursor over ``(appended_epoch_s, key)`` items in append order.

    ``check(now, present)`` moves past every item appended before
    ``now - within`` that ``present`` confirms, and says whether it reached
    all of them. ``present`` gets a batch of keys and returns those that are
    in the sink; an item given up on (older than ``give_up_after``) is
    passed over so one missing row does not hide every later recovery: the
    final reconciliation counts it.
    """

    def __init__(self, within: float, *, give_up_after: float, batch: int = 20_000) -> None:
        self.within = within
        self.give_up_after = give_up_after
        self.batch = batch
        self.cursor = 0
        self.given_up: list[str] = []

    def check(
        self,
        items: Sequence[tuple[float, str]],
        now: float,
        present: Callable[[list[str]], Collection[str]],
    ) -> bool:
        cutoff = now - self.within
        end = self.cursor
        limit = min(len(items), self.cursor + self.batch)
        while end < limit and items[end][0] <= cutoff:
            end += 1
        if end == self.cursor:
            return True  # nothing due since the last check
        found = present([key for _, key in items[self.cursor : end]])
        while self.cursor < end:
            appended, key = items[self.cursor]
            if key in found:
                self.cursor += 1
            elif now - appended > self.give_up_after:
                self.given_up.append(key)
                self.cursor += 1
            else:
                return False
        return end == len(items) or items[end][0] > cutoff


@dataclass
class Window:
    """One fault: from the kill until the sinks were current again (or the timeout)."""

    name: str
    killed_at: float
    recovered_at: float | None
    until: float  # start of the next fault, or the end of the run

    def holds(self, at: float) -> bool:
        return self.killed_at <= at < self.until


@dataclass
class Reconciliation:
    produced: int
    delivery_failures: int
    archived: int
    lost: list[str]
    unexpected_rows: list[str]
    duplicate_rows: int
    expected_alerts: int
    received_alerts: int  # distinct alert ids
    alert_emissions: int  # alert records read, replays included
    missing_alerts: list[str]
    unexpected_alerts: list[str]
    per_window: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self, examples: int = 10) -> dict[str, Any]:
        return {
            "produced": self.produced,
            "delivery_failures": self.delivery_failures,
            "archived": self.archived,
            "lost": len(self.lost),
            "lost_examples": self.lost[:examples],
            "unexpected_rows": len(self.unexpected_rows),
            "duplicate_rows": self.duplicate_rows,
            "expected_alerts": self.expected_alerts,
            "received_alerts": self.received_alerts,
            "alert_emissions": self.alert_emissions,
            "duplicate_alert_emissions": self.alert_emissions - self.received_alerts,
            "missing_alerts": len(self.missing_alerts),
            "missing_alert_examples": self.missing_alerts[:examples],
            "unexpected_alerts": len(self.unexpected_alerts),
            "unexpected_alert_examples": self.unexpected_alerts[:examples],
            "per_fault": self.per_window,
        }


def window_of(at: float, windows: Sequence[Window]) -> str:
    for window in windows:
        if window.holds(at):
            return window.name
    return "no fault"


def reconcile(
    *,
    appended: Mapping[str, float],
    delivery_failures: int,
    archived: Collection[str],
    duplicate_rows: int,
    expected: Iterable[Expected],
    received: Mapping[str, int],
    windows: Sequence[Window],
) -> Reconciliation:
    """``appended``: acknowledged transaction id -> append time; ``archived``:
    the run's transaction ids in the archive; ``received``: alert id -> times
    read. Expected alerts count only when their trigger was acknowledged
    (the detection engine is causal: a prefix of the stream decides them)."""
    wanted = [e for e in expected if e.trigger in appended]
    archived_set = set(archived)
    lost = sorted(tx for tx in appended if tx not in archived_set)
    unexpected_rows = sorted(tx for tx in archived_set if tx not in appended)
    missing = [e for e in wanted if e.alert_id not in received]
    wanted_ids = {e.alert_id for e in wanted}
    unexpected_alerts = sorted(a for a in received if a not in wanted_ids)
    per_window: dict[str, dict[str, int]] = {}
    for tx in lost:
        slot = per_window.setdefault(window_of(appended[tx], windows), {})
        slot["lost"] = slot.get("lost", 0) + 1
    for e in missing:
        slot = per_window.setdefault(window_of(appended[e.trigger], windows), {})
        slot["missing_alerts"] = slot.get("missing_alerts", 0) + 1
    return Reconciliation(
        produced=len(appended),
        delivery_failures=delivery_failures,
        archived=len(archived_set),
        lost=lost,
        unexpected_rows=unexpected_rows,
        duplicate_rows=duplicate_rows,
        expected_alerts=len(wanted),
        received_alerts=len(received),
        alert_emissions=sum(received.values()),
        missing_alerts=sorted(e.alert_id for e in missing),
        unexpected_alerts=unexpected_alerts,
        per_window=per_window,
    )


def alert_latency(
    first_seen: Mapping[str, float],
    expected: Iterable[Expected],
    appended: Mapping[str, float],
    windows: Sequence[Window],
) -> dict[str, dict[str, Any]]:
    """Latency (ms) from the trigger's append to the alert's first read, for
    alerts triggered during each fault (kill to recovery) and outside any."""
    samples: dict[str, list[float]] = {}
    for e in expected:
        seen = first_seen.get(e.alert_id)
        at = appended.get(e.trigger)
        if seen is None or at is None:
            continue
        slot = "outside faults"
        for window in windows:
            end = window.recovered_at if window.recovered_at is not None else window.until
            if window.killed_at <= at < end:
                slot = window.name
                break
        samples.setdefault(slot, []).append(max(0.0, (seen - at) * 1000))
    return {name: LatencySummary.of(values).to_dict() for name, values in samples.items()}
