"""The pipeline under test: the bench's own topics, its job(s), and cleanup.

Every run gets uuid-named topics and a run-specific ``bank_id``, submits its
own detection job instance(s) reading those topics, and on the way out
cancels them, deletes the topics and removes its archive rows — so a bench
never touches the live ``transactions`` topic or leaves data for the
dashboard to show.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudstream.archive.writer import Background
from fraudstream.bench import job as jobs
from fraudstream.bench.probes import Archive
from fraudstream.config import Settings
from fraudstream.platform import topics

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    settings: Settings  # the run's settings: its own topics
    bank_id: str
    run_id: str
    job: jobs.JobHandle | None = None
    job_missing: str | None = None  # why no job runs, when none does
    extra_jobs: dict[str, jobs.JobHandle] = field(default_factory=dict)
    extra_topics: list[str] = field(default_factory=list)
    rules: Path | None = None  # the catalogue the job runs (None: the bundled one)
    job_start_seconds: float | None = None  # from submission to every task running
    baseline_missing: str | None = None  # why the baseline job does not run, when asked for
    bank_ids: list[str] = field(default_factory=list)  # more bank ids whose rows to remove
    archiver: Background | None = None  # stores the job's topics in PostgreSQL

    def job_info(self) -> dict[str, Any]:
        return {
            "available": self.job is not None,
            "detail": self.job_missing,
            "job_id": self.job.job_id if self.job else None,
            "name": self.job.name if self.job else None,
            "rules": str(self.rules) if self.rules else "bundled catalogue",
            "start_seconds": self.job_start_seconds,
            "checkpoint_interval_ms": getattr(
                self.settings, "detection_checkpoint_interval_ms", None
            ),
            "python_parallelism": getattr(self.settings, "detection_python_parallelism", None),
            "state_backend": getattr(self.settings, "detection_state_backend", None),
            "parallelism": getattr(self.settings, "detection_parallelism", None),
        }


def run_settings(base: Settings, run_id: str) -> Settings:
    prefix = f"bench-{run_id}"
    return base.model_copy(
        update={
            "topic_transactions": f"{prefix}-transactions",
            "topic_alerts": f"{prefix}-alerts",
            "topic_dlq": f"{prefix}-dlq",
            "topic_labels": f"{prefix}-labels",
            "topic_valid": f"{prefix}-valid",
        }
    )


def create_topics(settings: Settings, names: list[str] | None = None) -> None:
    """The run's topics; the transactions topic stamps records with the broker's
    append time, which is where latency measurements start."""
    specs = topics.topic_specs(settings)
    template = specs[0]
    if names is not None:
        specs = [
            topics.TopicSpec(n, template.partitions, template.replication, dict(template.config))
            for n in names
        ]
    for spec in specs:
        if spec.name == settings.topic_transactions:
            spec.config["message.timestamp.type"] = "LogAppendTime"
    topics.ensure_topics(topics.admin_client(settings), specs)


def _submit_baseline(pipe: Pipeline, pack: str) -> None:
    topic = f"bench-{pipe.run_id}-alerts-baseline"
    # Its validated transactions go to a topic of their own, which no archive
    # job reads: the main instance's archive job stores the run's rows.
    valid = f"bench-{pipe.run_id}-valid-baseline"
    try:
        create_topics(pipe.settings, [topic, valid])
        pipe.extra_topics.extend([topic, valid])
        pipe.extra_jobs["baseline"] = jobs.submit(
            pipe.settings.model_copy(update={"topic_alerts": topic, "topic_valid": valid}),
            name=f"bench-{pipe.run_id}-baseline",
            pack=pack,
            rules=pipe.rules,
            wait=False,
        )
    except jobs.JobUnavailable as exc:
        pipe.baseline_missing = str(exc)


def delete_topics(settings: Settings, names: list[str]) -> None:
    admin = topics.admin_client(settings)
    for name, future in admin.delete_topics(names, operation_timeout=30).items():
        try:
            future.result()
        except Exception as exc:
            log.warning("could not delete bench topic %s: %s", name, exc)


@contextlib.contextmanager
def pipeline(
    base: Settings,
    *,
    submit_job: bool = True,
    keep: bool = False,
    rules: Path | None = None,
    baseline_pack: str | None = None,
) -> Iterator[Pipeline]:
    """The run's topics and job; with ``baseline_pack`` a second job running
    only that pack on the same topic, publishing to its own alerts topic.
    Both are submitted before either is waited for: they start in parallel."""
    run_id = uuid.uuid4().hex[:10]
    settings = run_settings(base, run_id)
    pipe = Pipeline(settings=settings, bank_id=f"BENCH_{run_id}", run_id=run_id, rules=rules)
    create_topics(settings)
    log.info("bench topics %s-* created", f"bench-{run_id}")
    try:
        # Its own consumer group: never shares the live archive writer's.
        group = {"archive_group_id": f"bench-{run_id}-archive"}
        pipe.archiver = Background(settings.model_copy(update=group)).start()
        if submit_job:
            started = time.monotonic()
            try:
                parallelism = jobs.fitting_parallelism(settings, 2 if baseline_pack else 1)
                settings = settings.model_copy(update={"detection_parallelism": parallelism})
                pipe.settings = settings
                pipe.job = jobs.submit(settings, name=f"bench-{run_id}", rules=rules, wait=False)
            except jobs.JobUnavailable as exc:
                pipe.job_missing = str(exc)
            if pipe.job is not None and baseline_pack is not None:
                _submit_baseline(pipe, baseline_pack)
            if pipe.job is not None:
                try:
                    jobs.wait_running(settings, pipe.job)
                    pipe.job_start_seconds = round(time.monotonic() - started, 1)
                except jobs.JobUnavailable as exc:
                    pipe.job_missing = str(exc)
                    jobs.cancel(settings, pipe.job)
                    pipe.job = None
            baseline = pipe.extra_jobs.get("baseline")
            if baseline is not None:
                try:
                    jobs.wait_running(settings, baseline)
                except jobs.JobUnavailable as exc:
                    pipe.baseline_missing = str(exc)
                    jobs.cancel(settings, baseline)
                    del pipe.extra_jobs["baseline"]
            if pipe.job_missing:
                log.warning("detection job not available: %s", pipe.job_missing)
        yield pipe
    finally:
        for handle in [pipe.job, *pipe.extra_jobs.values()]:
            if handle is not None:
                jobs.cancel(settings, handle)
        if pipe.archiver is not None:
            pipe.archiver.stop()
        if not keep:
            names = [
                settings.topic_transactions,
                settings.topic_alerts,
                settings.topic_dlq,
                settings.topic_labels,
                settings.topic_valid,
                *pipe.extra_topics,
            ]
            delete_topics(settings, names)
            try:
                for bank_id in [pipe.bank_id, *pipe.bank_ids]:
                    archive = Archive(settings, bank_id)
                    removed = archive.purge()
                    archive.close()
                    log.info(
                        "removed the run's archive rows of %s (%d transactions, %d alerts)",
                        bank_id,
                        *removed,
                    )
            except Exception as exc:
                log.warning("could not remove the run's archive rows: %s", exc)
