"""`fraudstream bench chaos`: faults under load, and what they cost.

The simulator's labelled stream (legitimate traffic with injected attacks)
goes to the run's topic at a steady rate. Meanwhile one stack process at a
time is killed with SIGKILL — a broker, the TaskManager, the JobManager,
PostgreSQL, and a controller when there are three — and restarted by the
stack's supervisor (this run's own, or that of a `fraudstream run` watching
the same stack). After a JobManager restart the run's job is resubmitted and
resumes from its newest retained checkpoint, as `fraudstream run` does.

The expected alerts come from replaying the same stream offline through the
detection engine (``detection.backtest``). Every second the run checks
whether the archive and the alerts topic are *current*: they hold every
transaction row, and every expected alert, of what was appended more than
``current_within`` seconds ago. A fault's recovery time runs from the kill to
the first moment both are current again with the killed process back. At the
end every acknowledged transaction id is reconciled against the archive and
every expected alert id against the alerts read. None of it depends on how
many Flink jobs carry the pipeline: only the archive table and the alerts
topic are read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from fraudstream.bench import report
from fraudstream.bench.loadgen import PacedProducer
from fraudstream.bench.probes import AlertListener
from fraudstream.bench.quality import QualityOptions, Stream, build_stream
from fraudstream.bench.reconcile import Currency, Expected, Window, alert_latency, reconcile
from fraudstream.bench.resources import machine
from fraudstream.bench.session import Pipeline
from fraudstream.config import Settings, env_for
from fraudstream.platform import procs, supervise
from fraudstream.platform.stack import Stack

log = logging.getLogger(__name__)

# Fault name -> the process it kills (a controller only with a quorum of three).
TARGETS = {
    "broker": "kafka-broker-2",
    "taskmanager": "flink-taskmanager",
    "jobmanager": "flink-jobmanager",
    "postgres": "postgres",
    "controller": "kafka-controller-2",
}
DEFAULT_ORDER = ("broker", "taskmanager", "jobmanager", "postgres", "controller")


@dataclass(frozen=True)
class ChaosOptions:
    rate: float = 1000.0
    faults: tuple[str, ...] = DEFAULT_ORDER
    warmup_seconds: float = 30.0
    fault_interval: float = 90.0  # kill to kill, at least (the next waits for recovery)
    quiet_seconds: float = 15.0  # after a recovery before the next kill
    tail_seconds: float = 30.0  # traffic after the last recovery (and to the planned length)
    recovery_timeout: float = 180.0
    current_within: float = 5.0
    seed: int = 42
    per_scenario: int = 40
    settle_seconds: float = 120.0
    progress_every: float = 5.0


def applicable_faults(settings: Settings, wanted: tuple[str, ...]) -> tuple[str, ...]:
    """The faults that exist on this stack, in order (a controller needs a quorum)."""
    unknown = [f for f in wanted if f not in TARGETS]
    if unknown:
        raise ValueError(f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    return tuple(f for f in wanted if f != "controller" or settings.kafka_controllers >= 3)


def planned_seconds(options: ChaosOptions, faults: int) -> float:
    return options.warmup_seconds + faults * options.fault_interval + options.tail_seconds


@dataclass
class _Sent:
    """Acknowledged transactions: append order and append time (epoch s)."""

    order: list[tuple[float, str]] = field(default_factory=list)
    at: dict[str, float] = field(default_factory=dict)

    def ack(self, tx_id: str, appended: float, acked: float) -> None:
        del acked
        self.at[tx_id] = appended
        self.order.append((appended, tx_id))


@dataclass
class _Alerts:
    first_seen: dict[str, float] = field(default_factory=dict)
    reads: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_alert(self, alert: dict[str, Any], received: float) -> None:
        alert_id = str(alert.get("alert_id"))
        with self.lock:
            self.reads[alert_id] = self.reads.get(alert_id, 0) + 1
            self.first_seen.setdefault(alert_id, received)


def expected_alerts(pipe: Pipeline, stream: Stream, folder: Path) -> list[Expected]:
    """The alerts the stream must raise, from the offline replay, in stream order."""
    from fraudstream.detection.backtest import BacktestOptions, run_backtest

    source = folder / "stream.jsonl"
    with source.open("wb") as out:
        for _, _, value in stream.records:
            out.write(value + b"\n")
    alerts_file = folder / "expected-alerts.jsonl"
    result = run_backtest(
        pipe.settings, BacktestOptions(input=source, rules=pipe.rules, output=alerts_file)
    )
    position = {tx: i for i, (tx, _, _) in enumerate(stream.records)}
    first: dict[str, Expected] = {}
    for line in alerts_file.read_text().splitlines():
        alert = json.loads(line)
        alert_id = str(alert["alert_id"])
        if alert_id not in first:
            trigger = str(alert.get("last_transaction_id") or alert["transaction_id"])
            first[alert_id] = Expected(alert_id, trigger, str(alert.get("rule_id")))
    source.unlink()
    alerts_file.unlink()
    log.info(
        "chaos: the offline replay expects %d alerts (%d emissions) from %d transactions",
        len(first),
        result.emissions,
        result.read,
    )
    return sorted(first.values(), key=lambda e: position.get(e.trigger, len(position)))


class _Sinks:
    """Whether the archive and the alerts topic are current (see the module doc)."""

    def __init__(
        self, settings: Settings, options: ChaosOptions, expected: list[Expected], sent: _Sent
    ) -> None:
        self.settings = settings
        self.sent = sent
        self.alerts = _Alerts()
        self.expected = expected
        self.archive = Currency(options.current_within, give_up_after=options.recovery_timeout)
        self.alert_cursor = Currency(options.current_within, give_up_after=options.recovery_timeout)
        self._conn: psycopg.Connection[Any] | None = None
        self._due: list[tuple[float, str]] = []
        self._next = 0

    def _archived(self, ids: list[str]) -> Collection[str]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.settings.dsn, autocommit=True, connect_timeout=2)
            rows = self._conn.execute(
                "SELECT transaction_id FROM transactions WHERE transaction_id = ANY(%s)", (ids,)
            ).fetchall()
            return {str(row[0]) for row in rows}
        except psycopg.Error:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return set()

    def _received(self, ids: list[str]) -> Collection[str]:
        with self.alerts.lock:
            return {i for i in ids if i in self.alerts.first_seen}

    def check(self, now: float) -> tuple[bool, bool]:
        archive = self.archive.check(self.sent.order, now, self._archived)
        # Expected alerts become due in the order their triggers were appended.
        while self._next < len(self.expected):
            at = self.sent.at.get(self.expected[self._next].trigger)
            if at is None:
                break
            self._due.append((at, self.expected[self._next].alert_id))
            self._next += 1
        alerts = self.alert_cursor.check(self._due, now, self._received)
        return archive, alerts

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class _Chaos(threading.Thread):
    """Kills one process at a time on schedule and times each recovery."""

    def __init__(
        self,
        pipe: Pipeline,
        stack: Stack,
        options: ChaosOptions,
        faults: tuple[str, ...],
        sinks: _Sinks,
        supervisor: supervise.Supervisor | None,
        started: float,
    ) -> None:
        super().__init__(name="chaos", daemon=True)
        self.pipe = pipe
        self.stack = stack
        self.options = options
        self.faults = faults
        self.sinks = sinks
        self.supervisor = supervisor
        self.started = started
        self.windows: list[Window] = []
        self.results: list[dict[str, Any]] = []
        self.state = "warming up"
        self.finished_at: float | None = None
        self.stop_event = threading.Event()
        self.current = (False, False)

    def _sample(self) -> tuple[bool, bool]:
        self.current = self.sinks.check(time.time())
        return self.current

    def _sleep_until(self, wall: float) -> None:
        while not self.stop_event.is_set() and time.time() < wall:
            self._sample()
            self.stop_event.wait(min(1.0, max(0.0, wall - time.time())))

    def run(self) -> None:
        due = self.started + self.options.warmup_seconds
        for fault in self.faults:
            self._sleep_until(due)
            if self.stop_event.is_set():
                return
            recovered = self._inject(fault)
            due = max(
                self.windows[-1].killed_at + self.options.fault_interval,
                (recovered or time.time()) + self.options.quiet_seconds,
            )
        self.state = "all faults done"
        # The traffic runs its planned length at least: the stream's attacks
        # lie after its warm-up, so a run cut short by a quick recovery would
        # send too few of them to expect any alert.
        planned_end = self.started + planned_seconds(self.options, len(self.faults))
        self._sleep_until(max(time.time() + self.options.tail_seconds, planned_end))
        self.finished_at = time.time()

    def _inject(self, fault: str) -> float | None:
        name = TARGETS[fault]
        proc = self.stack.process(name)
        old = proc.pid()
        entry: dict[str, Any] = {"fault": fault, "process": name, "pid": old}
        if old is None or not proc.alive():
            entry["skipped"] = f"{name} is not running"
            log.warning("chaos: %s not running; fault %s skipped", name, fault)
            self.results.append(entry)
            return None
        if self.supervisor is not None:
            self.supervisor.note_exit(name, "SIGKILL sent by bench chaos")
        killed_at = time.time()
        procs.kill(proc)
        log.info("chaos: killed %s (pid %d) with SIGKILL", name, old)
        window = Window(fault, killed_at, None, float("inf"))
        if self.windows:
            self.windows[-1].until = killed_at
        self.windows.append(window)
        self.state = f"{fault} killed"
        resubmit: threading.Thread | None = None
        restarted_at: float | None = None
        deadline = killed_at + self.options.recovery_timeout
        while time.time() < deadline and not self.stop_event.is_set():
            archive, alerts = self._sample()
            now = time.time()
            if restarted_at is None and proc.pid() not in (None, old) and proc.alive():
                restarted_at = now
                self.state = f"{fault} restarted, catching up"
                log.info("chaos: %s back (pid %s) after %.1f s", name, proc.pid(), now - killed_at)
                if fault == "jobmanager":
                    resubmit = threading.Thread(target=self._resubmit, daemon=True)
                    resubmit.start()
            fresh = now - self.options.current_within >= killed_at
            # The old job's tasks outlive their JobManager for a heartbeat
            # timeout: only the resubmitted job running counts as recovered.
            job_back = fault != "jobmanager" or (resubmit is not None and not resubmit.is_alive())
            if restarted_at is not None and job_back and fresh and archive and alerts:
                window.recovered_at = now
                break
            self.stop_event.wait(1.0)
        if resubmit is not None:
            resubmit.join(timeout=5)
        entry.update(
            {
                "killed_at": killed_at,
                "restart_seconds": _round(restarted_at - killed_at if restarted_at else None),
                "recovery_seconds": _round(
                    window.recovered_at - killed_at if window.recovered_at else None
                ),
                "recovered": window.recovered_at is not None,
            }
        )
        if window.recovered_at is None:
            log.warning(
                "chaos: %s not recovered within %.0f s (process back: %s, archive current: %s, "
                "alerts current: %s)",
                fault,
                self.options.recovery_timeout,
                restarted_at is not None,
                *self.current,
            )
        else:
            log.info("chaos: %s recovered in %.1f s", fault, window.recovered_at - killed_at)
        self.results.append(entry)
        self.state = f"{fault} done"
        return window.recovered_at

    def _resubmit(self) -> None:
        """The run's job, lost with the JobManager, resubmitted through `job submit`."""
        handle = self.pipe.job
        if handle is None:
            return
        job_settings = self.pipe.settings.model_copy(
            update={"detection_job_name": handle.name, "detection_group_id": handle.name}
        )
        extra = ("--rules", str(self.pipe.rules)) if self.pipe.rules else ()
        try:
            supervise.resubmit_jobs(self.stack, env_for(job_settings), *extra)
        except Exception as exc:
            log.error("chaos: resubmitting the run's job failed: %s", exc)


def run(pipe: Pipeline, options: ChaosOptions, folder: Path) -> dict[str, Any]:
    s = pipe.settings
    faults = applicable_faults(s, options.faults)
    result: dict[str, Any] = {
        "kind": "chaos",
        "machine": machine(),
        "options": asdict(options),
        "job": pipe.job_info(),
        "kafka_controllers": s.kafka_controllers,
        "faults": [],
    }
    if pipe.job is None:
        return result
    stack = Stack(s)
    seconds = planned_seconds(options, len(faults))
    # A margin: faults that take long to recover push the schedule back.
    stream = build_stream(
        QualityOptions(
            seed=options.seed,
            transactions=int(options.rate * seconds * 1.5),
            per_scenario=options.per_scenario,
            span_seconds=max(7200.0, seconds * 4),
        ),
        pipe.run_id,
    )
    pipe.bank_ids.extend(stream.bank_ids)
    expected = expected_alerts(pipe, stream, folder)
    result["stream"] = {
        "transactions": len(stream.records),
        "fraud_transactions": len(stream.labels),
        "scenarios": stream.scenarios,
        "expected_alerts": len(expected),
    }
    supervisor: supervise.Supervisor | None = supervise.for_stack(stack)
    if supervisor is not None and supervisor.acquire():
        supervisor.start()
        result["supervisor"] = "this run"
    else:
        supervisor = None
        result["supervisor"] = "another process (fraudstream run)"
        log.info("chaos: another process supervises this stack; it restarts what is killed")
    sent = _Sent()
    sinks = _Sinks(s, options, expected, sent)
    listener = AlertListener(s, s.topic_alerts, sinks.alerts.on_alert).start()
    producer = PacedProducer(
        s,
        s.topic_transactions,
        _Records(stream),
        on_ack=sent.ack,
        track=lambda _: True,
    )
    started = time.time()
    chaos = _Chaos(pipe, stack, options, faults, sinks, supervisor, started)
    log.info(
        "chaos: %s at %.0f tx/s, a fault every %.0f s or more: %s",
        f"{len(stream.records):,} labelled transactions available",
        options.rate,
        options.fault_interval,
        ", ".join(faults),
    )
    chaos.start()
    try:
        _produce(producer, chaos, sinks, sent, options, started)
        producer.flush(60)
        chaos.stop_event.set()
        chaos.join(timeout=60)
        _settle(sinks, options)
    finally:
        chaos.stop_event.set()
        chaos.join(timeout=30)
        listener.stop()
        sinks.close()
        producer.flush(10)
        if supervisor is not None:
            result["restarts"] = {k: asdict(v) for k, v in supervisor.records().items()}
            supervisor.stop()
        _cancel_resubmitted(pipe)
    result["faults"] = chaos.results
    result["duration_seconds"] = round(time.time() - started, 1)
    result["reconciliation"] = _reconcile(pipe, stream, sent, producer, sinks, expected, chaos)
    result["alert_latency_ms"] = alert_latency(
        sinks.alerts.first_seen, expected, sent.at, chaos.windows
    )
    return result


def _cancel_resubmitted(pipe: Pipeline) -> None:
    """Jobs of this run submitted after a JobManager restart: the session
    cancels the job it submitted, which the JobManager forgot."""
    from fraudstream.bench import job as jobs
    from fraudstream.detection import job as detection

    if pipe.job is None:
        return
    try:
        found = detection.jobs(pipe.settings)
    except requests.RequestException as exc:
        log.warning("chaos: could not list the cluster's jobs: %s", exc)
        return
    for info in found:
        mine = info.name.startswith(pipe.job.name) and info.job_id != pipe.job.job_id
        if mine and info.state in detection.ACTIVE_STATES:
            jobs.cancel(
                pipe.settings, jobs.JobHandle(info.job_id, info.name, pipe.job.alerts_topic)
            )


class _Records:
    def __init__(self, stream: Stream) -> None:
        self._iter = iter(stream.records)

    def make(self) -> tuple[str, bytes, bytes, bool]:
        tx_id, key, value = next(self._iter)
        return tx_id, key, value, True


def _produce(
    producer: PacedProducer,
    chaos: _Chaos,
    sinks: _Sinks,
    sent: _Sent,
    options: ChaosOptions,
    started: float,
) -> None:
    last = time.monotonic()
    while not producer.exhausted and chaos.finished_at is None and chaos.is_alive():
        producer.run(options.rate, 1.0)
        if time.monotonic() - last >= options.progress_every:
            last = time.monotonic()
            archive, alerts = chaos.current
            with sinks.alerts.lock:
                received = len(sinks.alerts.first_seen)
            log.info(
                "  %4.0fs  sent %d  archive %s  alerts %s (%d received)  %s",
                time.time() - started,
                len(sent.order),
                "current" if archive else "behind",
                "current" if alerts else "behind",
                received,
                chaos.state,
            )
    if producer.exhausted and chaos.is_alive():
        log.warning("chaos: the stream ran out before the last fault; faults left are skipped")


def _settle(sinks: _Sinks, options: ChaosOptions) -> None:
    """Until everything sent is archived and alerted, or the settle time is up."""
    deadline = time.time() + options.settle_seconds
    while time.time() < deadline:
        now = time.time() + options.current_within  # everything sent is due
        archive, alerts = sinks.check(now)
        if archive and alerts:
            return
        time.sleep(1.0)
    log.warning(
        "chaos: the sinks were not complete %.0f s after the traffic stopped",
        options.settle_seconds,
    )


def _reconcile(
    pipe: Pipeline,
    stream: Stream,
    sent: _Sent,
    producer: PacedProducer,
    sinks: _Sinks,
    expected: list[Expected],
    chaos: _Chaos,
) -> dict[str, Any]:
    with psycopg.connect(pipe.settings.dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT transaction_id FROM transactions WHERE bank_id = ANY(%s)", (stream.bank_ids,)
        ).fetchall()
        dup = conn.execute(
            "SELECT count(*) - count(DISTINCT transaction_id) FROM transactions "
            "WHERE bank_id = ANY(%s)",
            (stream.bank_ids,),
        ).fetchone()
    if chaos.windows:
        chaos.windows[-1].until = float("inf")
    with sinks.alerts.lock:
        reads = dict(sinks.alerts.reads)
    outcome = reconcile(
        appended=sent.at,
        delivery_failures=producer.stats.failed,
        archived=[str(r[0]) for r in rows],
        duplicate_rows=int(dup[0]) if dup else 0,
        expected=expected,
        received=reads,
        windows=chaos.windows,
    )
    return outcome.to_dict()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The readable end of a run: one line per fault, then the totals."""
    lines = []
    rec = result.get("reconciliation", {})
    per_fault = rec.get("per_fault", {})
    for fault in result.get("faults", []):
        if "skipped" in fault:
            lines.append(f"{fault['fault']:<12} skipped: {fault['skipped']}")
            continue
        counts = per_fault.get(fault["fault"], {})
        recovery = fault["recovery_seconds"]
        lines.append(
            f"{fault['fault']:<12} process back in {fault['restart_seconds']} s, "
            + (f"recovered in {recovery} s" if recovery is not None else "NOT recovered")
            + f"; lost {counts.get('lost', 0)}, missing alerts {counts.get('missing_alerts', 0)}"
        )
    if rec:
        lines.append(
            f"transactions: {rec['produced']:,} acknowledged, {rec['archived']:,} archived, "
            f"{rec['lost']} lost, {rec['duplicate_rows']} duplicated rows; alerts: "
            f"{rec['received_alerts']}/{rec['expected_alerts']} expected received "
            f"({rec['missing_alerts']} missing, {rec['unexpected_alerts']} unexpected, "
            f"{rec['duplicate_alert_emissions']} replayed emissions)"
        )
    return lines


def markdown(result: dict[str, Any], images: list[str]) -> str:
    del images
    lines = ["# Faults under load (bench chaos)", "", report.machine_lines(result["machine"])]
    lines.append(report.job_line(result["job"]))
    if not result["job"]["available"]:
        lines.append(f"**Detection job: not available** ({result['job']['detail']}).\n")
        return "\n".join(lines)
    opts = result["options"]
    stream = result.get("stream", {})
    lines.append(
        f"Command: `{result.get('command')}`. Labelled stream (seed {opts['seed']}) at "
        f"{opts['rate']:.0f} tx/s; {stream.get('expected_alerts')} alerts expected from the "
        f"offline replay; Kafka controllers: {result['kafka_controllers']}; restarts by "
        f"{result.get('supervisor')}. A sink counts as current when it holds everything "
        f"appended more than {opts['current_within']:g} s ago; recovery runs from the "
        "SIGKILL until the process is back and both sinks are current.\n"
    )
    rec = result.get("reconciliation", {})
    per_fault = rec.get("per_fault", {})
    latency = result.get("alert_latency_ms", {})
    rows = []
    for fault in result.get("faults", []):
        if "skipped" in fault:
            rows.append([fault["fault"], fault["process"], "skipped", "", "", "", "", ""])
            continue
        counts = per_fault.get(fault["fault"], {})
        lat = latency.get(fault["fault"], {})
        rows.append(
            [
                fault["fault"],
                fault["process"],
                fault["restart_seconds"],
                fault["recovery_seconds"] if fault["recovered"] else "not recovered",
                counts.get("lost", 0),
                counts.get("missing_alerts", 0),
                lat.get("p50"),
                lat.get("max"),
            ]
        )
    lines.append(
        report.table(
            [
                "fault",
                "process",
                "back after s",
                "recovered after s",
                "lost tx",
                "missing alerts",
                "alert latency p50 ms (during)",
                "max ms (during)",
            ],
            rows,
        )
    )
    outside = latency.get("outside faults", {})
    if outside.get("count"):
        lines.append(
            f"\nAlert latency outside the faults: n {outside['count']}, p50 "
            f"{outside['p50']} ms, p99 {outside['p99']} ms, max {outside['max']} ms.\n"
        )
    else:
        lines.append("\nNo expected alert was triggered outside the faults.\n")
    if rec:
        lines.append("## Reconciliation\n")
        lines.append(
            report.table(
                ["what", "count"],
                [
                    ["transactions acknowledged by Kafka", rec["produced"]],
                    ["delivery failures", rec["delivery_failures"]],
                    ["archived rows", rec["archived"]],
                    ["lost (acknowledged, not archived)", rec["lost"]],
                    ["archived but never acknowledged", rec["unexpected_rows"]],
                    ["duplicated archive rows", rec["duplicate_rows"]],
                    ["expected alerts", rec["expected_alerts"]],
                    ["received (distinct alert ids)", rec["received_alerts"]],
                    ["missing alerts", rec["missing_alerts"]],
                    ["unexpected alerts", rec["unexpected_alerts"]],
                    ["replayed alert emissions (same id again)", rec["duplicate_alert_emissions"]],
                ],
            )
        )
        if rec["lost_examples"] or rec["missing_alert_examples"]:
            lines.append(
                f"\nLost examples: {rec['lost_examples']}; missing alert examples: "
                f"{rec['missing_alert_examples']}.\n"
            )
    return "\n".join(lines) + "\n"


def plots(result: dict[str, Any], run: report.RunDir) -> list[str]:
    del result, run
    return []
