"""`fraudstream bench drain`: how fast the detection job works through a backlog.

A backlog of bench transactions is produced into the run's topic first; then
the job is started on it and reads as fast as it can. The archive's row
count, polled every second, gives the rate. Unlike the throughput ramp, no
producer runs next to the job while it is measured, so the job has the
machine to itself (with the stack): the figure is the job's capacity.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudstream.bench import job as jobs
from fraudstream.bench import report
from fraudstream.bench.loadgen import LoadShape, PacedProducer, TransactionFactory
from fraudstream.bench.probes import Archive
from fraudstream.bench.resources import ResourceSampler, machine
from fraudstream.bench.session import Pipeline

log = logging.getLogger(__name__)

ALERT_EVERY = 1000  # one transaction in N above the high-amount limit
EVENT_RATE = 200.0  # tx/s of event time the backlog is spread over


@dataclass(frozen=True)
class DrainOptions:
    # Every card has history: 25 transactions per card on average, so the
    # profiles are full-sized (velocity windows, amount history) as in a
    # steady state, not the empty state of a first sight.
    transactions: int = 500_000
    cards: int = 20_000
    poll_seconds: float = 1.0
    timeout_seconds: float = 900.0


class _Limited:
    """The bench factory, exhausted after ``count`` transactions."""

    def __init__(self, factory: TransactionFactory, count: int) -> None:
        self.factory = factory
        self.left = count

    def make(self) -> tuple[str, bytes, bytes, bool]:
        if self.left <= 0:
            raise StopIteration
        self.left -= 1
        return self.factory.make()


def _steady_rate(samples: list[tuple[float, int]], total: int) -> float | None:
    """Rows per second between 10 % and 90 % archived (start-up and tail left out)."""
    low = next((t for t, n in samples if n >= total * 0.1), None)
    high = next((t for t, n in samples if n >= total * 0.9), None)
    if low is None or high is None or high <= low:
        return None
    return round(total * 0.8 / (high - low), 1)


def run(pipe: Pipeline, options: DrainOptions) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": "drain", "machine": machine(), "options": asdict(options)}
    # Event times as if the backlog had arrived at EVENT_RATE tx/s, ending now:
    # cards see realistic gaps, so the rules alert as on real traffic (a
    # backlog stamped all within seconds would put every card in a burst).
    span = timedelta(seconds=options.transactions / EVENT_RATE)
    shape = LoadShape(
        bank_id=pipe.bank_id,
        cards=options.cards,
        alert_every=ALERT_EVERY,
        event_interval_ms=1000 / EVENT_RATE,
        event_start=datetime.now(UTC) - span,
    )
    source = _Limited(TransactionFactory(shape), options.transactions)
    producer = PacedProducer(pipe.settings, pipe.settings.topic_transactions, source)
    started = time.monotonic()
    producer.run(1e9, options.timeout_seconds)
    unsent = producer.flush(60)
    result["produced"] = producer.stats.acked
    result["produce_seconds"] = round(time.monotonic() - started, 1)
    log.info("drain: backlog of %d transactions produced", producer.stats.acked)
    if unsent or producer.stats.failed:
        raise RuntimeError(f"the backlog was not fully written ({producer.stats.failed} failed)")

    try:
        parallelism = jobs.fitting_parallelism(pipe.settings, 1)
        pipe.settings = pipe.settings.model_copy(update={"detection_parallelism": parallelism})
        submitted = time.monotonic()
        pipe.job = jobs.submit(pipe.settings, name=f"bench-{pipe.run_id}", rules=pipe.rules)
        pipe.job_start_seconds = round(time.monotonic() - submitted, 1)
    except jobs.JobUnavailable as exc:
        pipe.job_missing = str(exc)
    result["job"] = pipe.job_info()
    if pipe.job is None:
        return result

    total = producer.stats.acked
    archive = Archive(pipe.settings, pipe.bank_id)
    samples: list[tuple[float, int]] = []
    try:
        with ResourceSampler(pipe.settings) as sampler:
            running = time.monotonic()
            deadline = running + options.timeout_seconds
            archived = 0
            while archived < total and time.monotonic() < deadline:
                archived = archive.transactions()
                samples.append((round(time.monotonic() - running, 2), archived))
                if len(samples) % 10 == 0:
                    log.info("drain: %5.0fs  archived %d/%d", samples[-1][0], archived, total)
                time.sleep(options.poll_seconds)
            result["resources"] = sampler.summary()
        result["alerts"] = archive.alerts()
    finally:
        archive.close()
    result["samples"] = samples
    result["archived"] = samples[-1][1] if samples else 0
    done = result["archived"] >= total
    result["drain_seconds"] = samples[-1][0] if done and samples else None
    result["overall_rate"] = (
        round(total / result["drain_seconds"], 1) if result["drain_seconds"] else None
    )
    result["steady_rate"] = _steady_rate(samples, total)
    result["cpu_us_per_transaction"] = cpu_per_transaction(
        result.get("resources", []), result["drain_seconds"], result["archived"]
    )
    return result


def cpu_per_transaction(
    resources: list[dict[str, Any]], seconds: float | None, transactions: int
) -> dict[str, float]:
    """CPU time per archived transaction (µs) of each component, and in all.

    From the sampler's mean CPU over the drain: a mean of 150 % over 100 s is
    150 CPU seconds.
    """
    if not seconds or transactions <= 0:
        return {}
    per = {
        r["name"]: round(r["cpu_mean_pct"] / 100 * seconds / transactions * 1e6, 1)
        for r in resources
        if r.get("measured")
    }
    per["all"] = round(sum(per.values()), 1)
    return per


def markdown(result: dict[str, Any], images: list[str]) -> str:
    options = result["options"]
    lines = ["# Drain\n", report.machine_lines(result["machine"])]
    job = result.get("job", {})
    if not job.get("available"):
        lines.append(f"\nNo detection job ran ({job.get('detail')}): nothing was measured.\n")
        return "\n".join(lines)
    lines.append(report.job_line(job))
    lines.append(
        f"Backlog: {report.fmt(result['produced'], 0)} bench transactions over "
        f"{report.fmt(options['cards'], 0)} cards (one in {ALERT_EVERY} above the "
        f"high-amount limit), event times spread as {EVENT_RATE:.0f} tx/s of traffic "
        f"ending now, produced in {result['produce_seconds']} s before the job started.\n"
    )
    lines.append(
        report.table(
            ["archived", "all archived after (s)", "overall rows/s", "steady rows/s (10→90 %)"],
            [
                [
                    report.fmt(result["archived"], 0),
                    report.fmt(result["drain_seconds"]),
                    report.fmt(result["overall_rate"], 0),
                    report.fmt(result["steady_rate"], 0),
                ]
            ],
        )
    )
    cpu = result.get("cpu_us_per_transaction") or {}
    if cpu:
        lines.append(
            "\nCPU per transaction: "
            f"TaskManager **{report.fmt(cpu.get('flink-taskmanager'), 0)} µs**, "
            f"whole stack {report.fmt(cpu.get('all'), 0)} µs "
            "(mean CPU over the drain × its duration / transactions).\n"
        )
    lines.append(
        "\nThe clock starts when every task of the job runs; *overall* includes the "
        "job's start-up (the first records, a cold JIT), *steady* leaves it out.\n"
    )
    lines.append("\n## CPU and memory per component\n")
    lines.append(report.resources_table(result.get("resources", [])))
    lines.extend(f"\n![{name}]({name})" for name in images)
    return "\n".join(lines) + "\n"


def plots(result: dict[str, Any], run: report.RunDir) -> list[str]:
    del result, run
    return []
