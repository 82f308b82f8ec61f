"""`fraudstream bench throughput`: the highest rate the whole pipeline sustains.

The offered rate ramps up step by step. Each step measures every stage —
producer → Kafka (acknowledged records), Kafka → job (offsets the job's
source committed at its checkpoints), job → archive (rows committed in
PostgreSQL) and alerts published — plus the job's backlog: records in the
topic not yet archived. A step is sustained when the producer got the
offered rate acknowledged and the backlog stayed bounded; the ramp stops at
the first step that is not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from fraudstream.bench import report
from fraudstream.bench.loadgen import LoadShape, PacedProducer, TransactionFactory
from fraudstream.bench.metrics import judge_step
from fraudstream.bench.probes import Archive, CommittedOffsets, Offsets
from fraudstream.bench.resources import ResourceSampler, machine
from fraudstream.bench.session import Pipeline
from fraudstream.records import MAX_AMOUNT

log = logging.getLogger(__name__)

DEFAULT_BOUND = 5.0  # seconds of traffic the backlog may reach in a sustained step

DEFAULT_RATES = (1000, 2000, 5000, 10000, 20000, 50000)
ALERT_EVERY = 500
SHORT_RATES = (200, 1000)


@dataclass(frozen=True)
class ThroughputOptions:
    rates: tuple[int, ...] = DEFAULT_RATES
    step_seconds: float = 60.0
    # Backlog bound in seconds of traffic; None: DEFAULT_BOUND.
    lag_bound_seconds: float | None = None
    progress_every: float = 5.0


class _Stages:
    """Cumulative counters of every stage, read together."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.tx_offsets = Offsets(pipe.settings, pipe.settings.topic_transactions)
        self.alert_offsets = Offsets(pipe.settings, pipe.settings.topic_alerts)
        self.archive = Archive(pipe.settings, pipe.bank_id)
        self.source = (
            CommittedOffsets(pipe.settings, pipe.settings.topic_transactions, pipe.job.name)
            if pipe.job
            else None
        )

    def read(self) -> dict[str, Any]:
        in_kafka = self.tx_offsets.end()
        archived = self.archive.transactions()
        source = self.source.read() if self.source is not None else None
        return {
            "at": time.monotonic(),
            "in_kafka": in_kafka,
            "archived": archived,
            "source": source,
            "alerts": self.alert_offsets.end(),
            "lag": in_kafka - archived,
        }

    def close(self) -> None:
        self.tx_offsets.close()
        self.alert_offsets.close()
        self.archive.close()
        if self.source is not None:
            self.source.close()


def _rate(end: dict[str, Any], start: dict[str, Any], key: str, seconds: float) -> float | None:
    if end.get(key) is None or start.get(key) is None or seconds <= 0:
        return None
    return round(float(end[key] - start[key]) / seconds, 1)


def _alert_amount(pipe: Pipeline) -> float:
    from fraudstream.bench.latency import high_amount_limit

    try:
        rule = high_amount_limit(pipe.rules)
    except Exception:  # no catalogue: the load simply carries no designed alerts
        return 9_999.0
    return round(min(MAX_AMOUNT / 2, rule[1] * 2 + 1), 2) if rule else 9_999.0


def run(pipe: Pipeline, options: ThroughputOptions) -> dict[str, Any]:
    job_ok = pipe.job is not None
    # One transaction in ALERT_EVERY is above the high-amount limit, so the
    # alerts path carries traffic too.
    shape = LoadShape(
        bank_id=pipe.bank_id, alert_every=ALERT_EVERY, alert_amount=_alert_amount(pipe)
    )
    producer = PacedProducer(
        pipe.settings, pipe.settings.topic_transactions, TransactionFactory(shape)
    )
    stages = _Stages(pipe)
    steps: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "kind": "throughput",
        "machine": machine(),
        "options": asdict(options),
        "topics": {
            "transactions": pipe.settings.topic_transactions,
            "alerts": pipe.settings.topic_alerts,
        },
        "job": pipe.job_info(),
    }
    # The archive sink flushes every 200 ms (or 500 rows), not on checkpoints:
    # at a rate the job keeps up with, rows are visible within a second.
    bound = options.lag_bound_seconds if options.lag_bound_seconds is not None else DEFAULT_BOUND
    result["bound_seconds"] = bound
    try:
        with ResourceSampler(pipe.settings) as sampler:
            for rate in options.rates:
                step = _step(pipe, producer, stages, sampler, rate, options, bound)
                steps.append(step)
                log.info("throughput: %d tx/s → %s", rate, step["verdict"])
                if not step["sustained"]:
                    break
            result["resources"] = sampler.summary()
    finally:
        producer.flush(10)
        stages.close()
    result["steps"] = steps
    sustained = [s["offered_rate"] for s in steps if s["sustained"]]
    result["max_sustained_rate"] = max(sustained) if sustained and job_ok else None
    result["max_acked_rate"] = max((s["acked_rate"] for s in steps), default=None)
    result["total_sent"] = producer.stats.acked
    return result


def _step(
    pipe: Pipeline,
    producer: PacedProducer,
    stages: _Stages,
    sampler: ResourceSampler,
    rate: int,
    options: ThroughputOptions,
    bound: float,
) -> dict[str, Any]:
    job_ok = pipe.job is not None
    mark = sampler.mark()
    before = stages.read()
    acked_before = producer.stats.acked
    log.info("throughput: offering %d tx/s for %.0fs", rate, options.step_seconds)
    elapsed = 0.0
    remaining = options.step_seconds
    backlog_max = 0
    while remaining > 0:
        chunk = min(options.progress_every, remaining)
        elapsed += producer.run(rate, chunk)
        remaining -= chunk
        now = stages.read()
        backlog_max = max(backlog_max, now["lag"])
        log.info(
            "  %5.0fs  acked %d  archived %d  backlog %d",
            elapsed,
            producer.stats.acked - acked_before,
            now["archived"] - before["archived"],
            now["lag"],
        )
    producer.flush(30)
    after = stages.read()
    seconds = after["at"] - before["at"]
    acked_rate = round((producer.stats.acked - acked_before) / max(elapsed, 1e-9), 1)
    step: dict[str, Any] = {
        "offered_rate": rate,
        "seconds": round(seconds, 2),
        "acked_rate": acked_rate,
        "kafka_rate": _rate(after, before, "in_kafka", seconds),
        "source_rate": _rate(after, before, "source", seconds) if job_ok else None,
        "archive_rate": _rate(after, before, "archived", seconds) if job_ok else None,
        "alert_rate": _rate(after, before, "alerts", seconds) if job_ok else None,
        "backlog_end": after["lag"],
        "backlog_max": backlog_max,
        "backlog_max_seconds": round(backlog_max / max(acked_rate, 1.0), 2),
        "producer_failed": producer.stats.failed,
    }
    if job_ok:
        # Measured past the bound (a step that falls behind still reports how
        # long catching up took); the verdict applies the bound.
        drained = _drain(stages, max(bound, 60.0))
        step["drain_seconds"] = drained
        verdict = judge_step(
            offered_rate=rate,
            acked_rate=acked_rate,
            backlog_max_seconds=step["backlog_max_seconds"],
            drain_seconds=drained,
            bound_seconds=bound,
        )
        step["sustained"], step["verdict"] = verdict.sustained, verdict.reason
    else:
        kept_up = acked_rate >= rate * 0.95
        step["sustained"] = kept_up
        step["verdict"] = "producer → Kafka only (no job): " + (
            "acknowledged" if kept_up else "producer fell behind"
        )
    step["resources"] = sampler.summary(since=mark)
    return step


def _drain(stages: _Stages, timeout: float) -> float | None:
    """Seconds until the archive holds everything in the topic; None past ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started <= timeout:
        if stages.read()["lag"] <= 0:
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    return None


def markdown(result: dict[str, Any], images: list[str]) -> str:
    lines = [
        "# Throughput",
        "",
        report.machine_lines(result["machine"]),
        report.job_line(result["job"]),
    ]
    if not result["job"]["available"]:
        lines.append(
            f"**Detection job: not available** ({result['job']['detail']}); "
            "only the producer → Kafka stage was measured.\n"
        )
    lines.append(
        f"Highest sustained rate: **{report.fmt(result['max_sustained_rate'])} tx/s** "
        f"(highest acknowledged by Kafka: {report.fmt(result['max_acked_rate'])} tx/s; "
        f"each step {result['options']['step_seconds']:.0f} s).\n"
    )
    steps = result["steps"]
    if steps and not steps[-1]["sustained"]:
        lines.append(
            f"The ramp stopped at {steps[-1]['offered_rate']} tx/s: {steps[-1]['verdict']}.\n"
        )
    elif steps:
        lines.append("Every offered rate was sustained: the ramp did not reach the limit.\n")
    rows = [
        [
            s["offered_rate"],
            s["acked_rate"],
            s["source_rate"],
            s["archive_rate"],
            s["alert_rate"],
            s["backlog_max_seconds"],
            s.get("drain_seconds"),
            s["verdict"],
        ]
        for s in result["steps"]
    ]
    lines.append(
        report.table(
            [
                "offered tx/s",
                "producer→Kafka acked/s",
                "Kafka→job committed/s",
                "job→archive rows/s",
                "alerts/s",
                "max backlog (s of traffic)",
                "caught up after (s)",
                "verdict",
            ],
            rows,
        )
    )
    if result.get("bound_seconds") is not None:
        lines.append(
            f"\nA step is sustained when Kafka acknowledged ≥ 95 % of the offered rate, the "
            f"job's backlog (records in the topic not yet archived, sampled every "
            f"{result['options']['progress_every']:.0f} s) stayed under "
            f"{result['bound_seconds']:.0f} s of traffic, and after the step the archive "
            f"caught up within that bound. Rates are averaged over the step; the Kafka → job "
            f"column counts offsets committed on checkpoints "
            f"({result['job'].get('checkpoint_interval_ms')} ms), so it reads low.\n"
        )
    lines.append("\n## CPU and memory per component (whole run)\n")
    lines.append(report.resources_table(result.get("resources", [])))
    for step in result["steps"]:
        lines.append(f"\n### At {step['offered_rate']} tx/s\n")
        lines.append(report.resources_table(step["resources"]))
    lines += ["", *[f"![{name}]({name})" for name in images], ""]
    return "\n".join(lines)


def plots(result: dict[str, Any], run: report.RunDir) -> list[str]:
    paths = report.plot_throughput(result["steps"], run.path)
    paths += report.plot_cpu(result.get("resources", []), run.path, "resources.png")
    return [p.name for p in paths]
