"""`fraudstream bench latency`: from a transaction's append to Kafka to
(a) its alert visible to a read-committed consumer of the alerts topic and
(b) its row committed in PostgreSQL.

The run topic stores the broker's append time (``LogAppendTime``) in every
record, and the producer's acknowledgement carries it back, so the start of
each measurement is the moment the broker appended the record. Alerts are
provoked by transactions above the catalogue's high-amount limit; the
archive is polled by transaction id (primary key) every ``poll_interval``,
which bounds the resolution of (b).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fraudstream.bench import report
from fraudstream.bench.loadgen import CURRENCIES, LoadShape, PacedProducer, TransactionFactory
from fraudstream.bench.metrics import LatencySummary
from fraudstream.bench.probes import AlertListener, Archive, Offsets
from fraudstream.bench.resources import ResourceSampler, machine
from fraudstream.bench.session import Pipeline
from fraudstream.records import MAX_AMOUNT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencyOptions:
    rate: float = 500.0
    duration: float = 60.0
    alert_every: int = 20  # one transaction in n is designed to alert
    archive_sample_every: int = 1  # track every n-th transaction in the archive
    warmup_seconds: float = 10.0
    settle_seconds: float = 30.0  # wait for the last alerts and rows after sending
    poll_interval: float = 0.1


def high_amount_limit(rules: Path | None = None) -> tuple[str, float] | None:
    """(rule id, threshold) of the first enabled high-amount rule in the catalogue."""
    from fraudstream.detection.rules.catalogue import load_catalogue

    for rule in load_catalogue(rules).enabled():
        if rule.type == "high_amount":
            limits = [float(rule.params.get("threshold", 5000))]
            per_currency = rule.params.get("per_currency") or {}
            limits += [
                float(per_currency[c]) for c in set(CURRENCIES.values()) if c in per_currency
            ]
            return rule.id, max(limits)
    return None


class _Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.appended: dict[str, float] = {}
        self.want_alert: set[str] = set()
        self.alert_seen: dict[str, float] = {}
        self.alert_detected_at: dict[str, float] = {}
        self.pending_archive: dict[str, float] = {}
        self.archive_seen: dict[str, float] = {}
        self.archive_stamp: dict[str, float] = {}


def _iso_epoch(text: Any) -> float | None:
    from fraudstream.records import parse_timestamp

    try:
        return parse_timestamp(str(text)).timestamp()
    except Exception:
        return None


def run(pipe: Pipeline, options: LatencyOptions) -> dict[str, Any]:
    result: dict[str, Any] = {
        "kind": "latency",
        "machine": machine(),
        "options": asdict(options),
        "job": pipe.job_info(),
    }
    if pipe.job is None:
        result["alert_visible_ms"] = result["archive_visible_ms"] = None
        return result
    rule = high_amount_limit(pipe.rules)
    result["alert_rule"] = rule[0] if rule else None
    alert_amount = min(MAX_AMOUNT / 2, (rule[1] if rule else 0) * 2 + 1)
    shape = LoadShape(
        bank_id=pipe.bank_id,
        alert_every=options.alert_every if rule else 0,
        alert_amount=round(alert_amount, 2),
    )
    tracker = _Tracker()
    measuring = threading.Event()
    counter = {"n": 0}

    def track(alert: bool) -> bool:
        if not measuring.is_set():
            return False
        counter["n"] += 1
        return alert or counter["n"] % options.archive_sample_every == 0

    def on_ack(tx_id: str, appended: float, acked: float) -> None:
        del acked
        with tracker.lock:
            tracker.appended[tx_id] = appended
            tracker.pending_archive[tx_id] = appended

    factory = TransactionFactory(shape)
    original_make = factory.make

    def make() -> tuple[str, bytes, bytes, bool]:
        made = original_make()
        if made[3] and measuring.is_set():
            with tracker.lock:
                tracker.want_alert.add(made[0])
        return made

    factory.make = make  # type: ignore[method-assign]

    def on_alert(alert: dict[str, Any], received: float) -> None:
        tx_id = str(alert.get("transaction_id"))
        if rule is not None and alert.get("rule_id") != rule[0]:
            return
        with tracker.lock:
            if tx_id in tracker.want_alert and tx_id not in tracker.alert_seen:
                tracker.alert_seen[tx_id] = received
                detected = _iso_epoch(alert.get("detected_at"))
                if detected is not None:
                    tracker.alert_detected_at[tx_id] = detected

    archive = Archive(pipe.settings, pipe.bank_id)
    stop_polling = threading.Event()

    def poll_archive() -> None:
        while not stop_polling.wait(options.poll_interval):
            with tracker.lock:
                ids = list(tracker.pending_archive)[:5000]
            found = archive.archived(ids)
            now = time.time()
            with tracker.lock:
                for tx_id, stamp in found:
                    tracker.pending_archive.pop(tx_id, None)
                    tracker.archive_seen[tx_id] = now
                    tracker.archive_stamp[tx_id] = stamp

    listener = AlertListener(pipe.settings, pipe.settings.topic_alerts, on_alert).start()
    producer = PacedProducer(
        pipe.settings, pipe.settings.topic_transactions, factory, on_ack=on_ack, track=track
    )
    poller = threading.Thread(target=poll_archive, name="archive-poller", daemon=True)
    offsets = Offsets(pipe.settings, pipe.settings.topic_transactions)
    try:
        log.info("latency: warm-up %.0fs at %.0f tx/s", options.warmup_seconds, options.rate)
        producer.run(options.rate, options.warmup_seconds)
        producer.flush(30)
        _wait_caught_up(archive, offsets, timeout=max(60.0, options.settle_seconds))
        poller.start()
        measuring.set()
        with ResourceSampler(pipe.settings) as sampler:
            log.info("latency: measuring %.0fs at %.0f tx/s", options.duration, options.rate)
            elapsed = 0.0
            while elapsed < options.duration:
                chunk = min(5.0, options.duration - elapsed)
                elapsed += producer.run(options.rate, chunk)
                with tracker.lock:
                    log.info(
                        "  %4.0fs  sent %d  alerts seen %d/%d  archived %d/%d",
                        elapsed,
                        producer.stats.acked,
                        len(tracker.alert_seen),
                        len(tracker.want_alert),
                        len(tracker.archive_seen),
                        len(tracker.appended),
                    )
            measuring.clear()
            producer.flush(30)
            deadline = time.monotonic() + options.settle_seconds
            while time.monotonic() < deadline:
                with tracker.lock:
                    done = not tracker.pending_archive and len(tracker.alert_seen) >= len(
                        tracker.want_alert
                    )
                if done:
                    break
                time.sleep(0.2)
            result["resources"] = sampler.summary()
    finally:
        stop_polling.set()
        if poller.is_alive():
            poller.join(timeout=5)
        listener.stop()
        producer.flush(10)
        archive.close()
        offsets.close()
    with tracker.lock:
        alert_ms = [
            (tracker.alert_seen[t] - tracker.appended[t]) * 1000
            for t in tracker.alert_seen
            if t in tracker.appended
        ]
        detected_ms = [
            (tracker.alert_detected_at[t] - tracker.appended[t]) * 1000
            for t in tracker.alert_detected_at
            if t in tracker.appended
        ]
        archive_ms = [
            (tracker.archive_seen[t] - tracker.appended[t]) * 1000 for t in tracker.archive_seen
        ]
        stamp_ms = [
            (tracker.archive_stamp[t] - tracker.appended[t]) * 1000 for t in tracker.archive_stamp
        ]
        missing_alerts = len(tracker.want_alert - set(tracker.alert_seen))
        missing_rows = len(tracker.pending_archive)
        tracked = len(tracker.appended)
    result.update(
        {
            "sent": producer.stats.acked,
            "tracked": tracked,
            "alert_visible_ms": LatencySummary.of(alert_ms).to_dict() if rule else None,
            "alert_detected_at_ms": LatencySummary.of(detected_ms).to_dict() if rule else None,
            "archive_visible_ms": LatencySummary.of(archive_ms).to_dict(),
            "archive_stamp_ms": LatencySummary.of(stamp_ms).to_dict(),
            "alerts_expected": len(alert_ms) + missing_alerts,
            "alerts_missing": missing_alerts,
            "rows_missing": missing_rows,
            "samples": {
                "alert_visible_ms": [round(x, 1) for x in alert_ms],
                "archive_visible_ms": [round(x, 1) for x in archive_ms],
            },
        }
    )
    return result


def _wait_caught_up(archive: Archive, offsets: Offsets, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if archive.transactions() >= offsets.end():
            return
        time.sleep(0.5)
    log.warning("latency: archive still behind after warm-up; measuring anyway")


def markdown(result: dict[str, Any], images: list[str]) -> str:
    lines = [
        "# Latency",
        "",
        report.machine_lines(result["machine"]),
        report.job_line(result["job"]),
    ]
    opts = result["options"]
    if not result["job"]["available"]:
        lines.append(
            f"**Detection job: not available** ({result['job']['detail']}); nothing was measured.\n"
        )
        return "\n".join(lines)
    lines.append(
        f"{opts['rate']:.0f} tx/s for {opts['duration']:.0f} s after a "
        f"{opts['warmup_seconds']:.0f} s warm-up; one transaction in "
        f"{opts['alert_every']} above the high-amount limit "
        f"(rule `{result.get('alert_rule')}`). Start of every measurement: the "
        "broker's append time of the transaction.\n"
    )
    rows = []
    for key, label in (
        ("alert_visible_ms", "(a) alert visible to a read-committed consumer"),
        ("alert_detected_at_ms", "alert's own detected_at stamp"),
        (
            "archive_visible_ms",
            f"(b) row visible in PostgreSQL (polled every {opts['poll_interval'] * 1000:.0f} ms)",
        ),
        ("archive_stamp_ms", "row's archived_at stamp"),
    ):
        s = result.get(key)
        if s is None:
            rows.append([label, "not available", None, None, None, None])
        else:
            rows.append([label, s["count"], s["p50"], s["p95"], s["p99"], s["max"]])
    lines.append(
        report.table(["from append to", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)
    )
    lines.append(
        f"\nAlerts never seen: {result['alerts_missing']} of "
        f"{result['alerts_expected']}; rows never seen: {result['rows_missing']}.\n"
    )
    lines.append("\n## CPU and memory per component\n")
    lines.append(report.resources_table(result.get("resources", [])))
    lines += ["", *[f"![{name}]({name})" for name in images], ""]
    return "\n".join(lines)


def plots(result: dict[str, Any], run: report.RunDir) -> list[str]:
    samples = result.get("samples") or {}
    paths = report.plot_latency(
        {
            "alert visible (a)": samples.get("alert_visible_ms", []),
            "archive row visible (b)": samples.get("archive_visible_ms", []),
        },
        run.path,
    )
    paths += report.plot_cpu(result.get("resources", []), run.path, "resources.png")
    return [p.name for p in paths]
