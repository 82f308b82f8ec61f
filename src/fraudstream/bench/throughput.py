"""`fraudstream bench throughput`: the highest rate the whole pipeline sustains.

The offered rate ramps up step by step. Each step measures every stage —
producer → Kafka (acknowledged records), Kafka → job (records read by the
job's sources, from the Flink REST API), job → archive (rows committed in
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
from fraudstream.bench.probes import Archive, Offsets, flink_job_metrics
from fraudstream.bench.resources import ResourceSampler, machine
from fraudstream.bench.session import Pipeline

log = logging.getLogger(__name__)

DEFAULT_RATES = (1000, 2000, 5000, 10000, 20000, 50000)
SHORT_RATES = (200, 1000)


@dataclass(frozen=True)
class ThroughputOptions:
    rates: tuple[int, ...] = DEFAULT_RATES
    step_seconds: float = 60.0
    lag_bound_seconds: float = 5.0
    drain_seconds: float = 60.0
    progress_every: float = 5.0


class _Stages:
    """Cumulative counters of every stage, read together."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe
        self.tx_offsets = Offsets(pipe.settings, pipe.settings.topic_transactions)
        self.alert_offsets = Offsets(pipe.settings, pipe.settings.topic_alerts)
        self.archive = Archive(pipe.settings, pipe.bank_id)

    def read(self) -> dict[str, Any]:
        in_kafka = self.tx_offsets.end()
        archived = self.archive.transactions()
        source = None
        if self.pipe.job is not None:
            metrics = flink_job_metrics(self.pipe.settings, self.pipe.job.job_id)
            source = metrics.get("source_records")
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


def _rate(end: dict[str, Any], start: dict[str, Any], key: str, seconds: float) -> float | None:
    if end.get(key) is None or start.get(key) is None or seconds <= 0:
        return None
    return round(float(end[key] - start[key]) / seconds, 1)


def run(pipe: Pipeline, options: ThroughputOptions) -> dict[str, Any]:
    job_ok = pipe.job is not None
    shape = LoadShape(bank_id=pipe.bank_id)
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
    try:
        with ResourceSampler(pipe.settings) as sampler:
            for rate in options.rates:
                mark = sampler.mark()
                before = stages.read()
                acked_before = producer.stats.acked
                log.info("throughput: offering %d tx/s for %.0fs", rate, options.step_seconds)
                elapsed = 0.0
                remaining = options.step_seconds
                while remaining > 0:
                    chunk = min(options.progress_every, remaining)
                    elapsed += producer.run(rate, chunk)
                    remaining -= chunk
                    now = stages.read()
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
                    "lag_start": before["lag"],
                    "lag_end": after["lag"],
                    "producer_failed": producer.stats.failed,
                    "resources": sampler.summary(since=mark),
                }
                if job_ok:
                    verdict = judge_step(
                        offered_rate=rate,
                        acked_rate=acked_rate,
                        lag_start=before["lag"],
                        lag_end=after["lag"],
                        step_seconds=seconds,
                        lag_bound_seconds=options.lag_bound_seconds,
                    )
                    step["sustained"], step["verdict"] = verdict.sustained, verdict.reason
                else:
                    ok = acked_rate >= rate * 0.95
                    step["sustained"] = None
                    step["verdict"] = "producer → Kafka only; " + (
                        "kept up" if ok else "producer fell behind"
                    )
                steps.append(step)
                log.info("throughput: %d tx/s → %s", rate, step["verdict"])
                if step["sustained"] is False or (not job_ok and acked_rate < rate * 0.95):
                    break
            result["resources"] = sampler.summary()
            result["drain"] = _drain(stages, options.drain_seconds) if job_ok else None
    finally:
        producer.flush(10)
        stages.close()
    result["steps"] = steps
    sustained = [s["offered_rate"] for s in steps if s["sustained"]]
    result["max_sustained_rate"] = max(sustained) if sustained else None
    result["max_acked_rate"] = max((s["acked_rate"] for s in steps), default=None)
    result["total_sent"] = producer.stats.acked
    return result


def _drain(stages: _Stages, timeout: float) -> dict[str, Any]:
    """After the ramp, how long the archive takes to catch up (bounded)."""
    started = time.monotonic()
    last = stages.read()
    while last["lag"] > 0 and time.monotonic() - started < timeout:
        time.sleep(1.0)
        last = stages.read()
    return {
        "caught_up": last["lag"] <= 0,
        "seconds": round(time.monotonic() - started, 1),
        "backlog": last["lag"],
    }


def markdown(result: dict[str, Any], images: list[str]) -> str:
    lines = ["# Throughput", "", report.machine_lines(result["machine"])]
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
    rows = [
        [
            s["offered_rate"],
            s["acked_rate"],
            s["source_rate"],
            s["archive_rate"],
            s["alert_rate"],
            s["lag_end"],
            s["verdict"],
        ]
        for s in result["steps"]
    ]
    lines.append(
        report.table(
            [
                "offered tx/s",
                "producer→Kafka acked/s",
                "Kafka→job read/s",
                "job→archive rows/s",
                "alerts/s",
                "backlog at end",
                "verdict",
            ],
            rows,
        )
    )
    if result.get("drain"):
        d = result["drain"]
        lines.append(
            f"\nAfter the ramp the archive caught up: {report.fmt(d['caught_up'])} "
            f"({d['seconds']} s, backlog {d['backlog']}).\n"
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
