"""`fraudstream bench latency`: from a transaction's append to Kafka to
(a) its alert visible to a read-committed consumer of the alerts topic and
(b) its row committed in PostgreSQL.

The run topic stores the broker's append time (``LogAppendTime``) in every
record, and the producer's acknowledgement carries it back, so the start of
each measurement is the moment the broker appended the record. Alerts are
provoked by short trigger sequences (``bench.triggers``), one rule type after
another, each on a card of its own, so (a) is measured per rule type; the
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

from fraudstream.bench import report, triggers
from fraudstream.bench.loadgen import CURRENCIES, LoadShape, PacedProducer, TransactionFactory
from fraudstream.bench.metrics import LatencySummary
from fraudstream.bench.probes import AlertListener, Archive, Offsets
from fraudstream.bench.resources import ResourceSampler, machine
from fraudstream.bench.session import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencyOptions:
    rate: float = 500.0
    duration: float = 60.0
    alert_every: int = 20  # every n-th slot starts a trigger sequence
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
        self.want_alert: dict[str, str] = {}  # trigger transaction id -> rule id
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
    from fraudstream.detection.rules.catalogue import load_catalogue

    catalogue = load_catalogue(pipe.rules)
    rule_types = {r.id: r.type for r in catalogue.enabled()}
    recipes = triggers.sequences(catalogue)
    result["alert_rules"] = {s.rule_id: s.rule_type for s in recipes}
    rule = bool(recipes)
    shape = LoadShape(bank_id=pipe.bank_id, alert_every=options.alert_every if rule else 0)
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

    factory = TransactionFactory(shape, triggers.cycle(catalogue) if rule else None)
    original_make = factory.make

    def make() -> tuple[str, bytes, bytes, bool]:
        made = original_make()
        if made[3] and measuring.is_set():
            with tracker.lock:
                tracker.want_alert[made[0]] = factory.trigger_rules.pop(made[0], "")
        return made

    factory.make = make  # type: ignore[method-assign]

    def on_alert(alert: dict[str, Any], received: float) -> None:
        tx_id = str(alert.get("transaction_id"))
        with tracker.lock:
            if tracker.want_alert.get(tx_id) != alert.get("rule_id"):
                return
            if tx_id not in tracker.alert_seen:
                tracker.alert_seen[tx_id] = received
                detected = _iso_epoch(alert.get("detected_at"))
                if detected is not None:
                    tracker.alert_detected_at[tx_id] = detected

    archive = Archive(pipe.settings, pipe.bank_id)
    blocks = any(r.rule_type == "blocklist" for r in recipes)
    if blocks:
        # On the list before the warm-up: the job's snapshot refreshes within it.
        archive.block_merchant(triggers.BLOCKED_MERCHANT)
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
        if blocks:
            archive.unblock_merchant(triggers.BLOCKED_MERCHANT)
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
        missing_alerts = len(set(tracker.want_alert) - set(tracker.alert_seen))
        per_type: dict[str, list[float]] = {}
        for t, seen in tracker.alert_seen.items():
            if t in tracker.appended:
                kind = rule_types.get(tracker.want_alert[t], "?")
                per_type.setdefault(kind, []).append((seen - tracker.appended[t]) * 1000)
        missing_per_type: dict[str, int] = {}
        for t, rule_id in tracker.want_alert.items():
            if t not in tracker.alert_seen:
                kind = rule_types.get(rule_id, "?")
                missing_per_type[kind] = missing_per_type.get(kind, 0) + 1
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
            "alert_visible_by_rule_type_ms": {
                kind: LatencySummary.of(values).to_dict()
                for kind, values in sorted(per_type.items())
            },
            "alerts_missing_by_rule_type": missing_per_type,
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
        f"{opts['warmup_seconds']:.0f} s warm-up; every {opts['alert_every']}th slot starts "
        "a trigger sequence for the next rule "
        f"({', '.join(f'`{r}`' for r in result.get('alert_rules') or {})}) on a card of its "
        "own. Start of every measurement: the broker's append time of the trigger "
        "transaction.\n"
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
    by_type = result.get("alert_visible_by_rule_type_ms") or {}
    if by_type:
        missing = result.get("alerts_missing_by_rule_type") or {}
        lines.append("\n### (a) per rule type\n")
        lines.append(
            report.table(
                ["rule type", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "never seen"],
                [
                    [kind, s["count"], s["p50"], s["p95"], s["p99"], s["max"], missing.get(kind, 0)]
                    for kind, s in by_type.items()
                ],
            )
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
