"""``fraudstream run`` restarts stack processes that die, and the job resumes.

A stack of its own (``fraudstream run`` starts and stops it), so the session
stack is never killed. Transactions go in before and after each kill; all of
them must reach the archive, which only happens when the job runs again.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from confluent_kafka import Producer

from fraudstream.bench.loadgen import LoadShape, TransactionFactory
from fraudstream.config import Settings, env_for
from fraudstream.detection import job as detection
from fraudstream.platform import procs
from fraudstream.platform.stack import Stack

from ..conftest import ARTIFACTS, _fresh_settings

BATCH = 200


@pytest.fixture
def running() -> Iterator[tuple[Settings, subprocess.Popen[bytes], Path]]:
    # Short checkpoints: the JobManager's kill must find one to resume from.
    settings = _fresh_settings().model_copy(update={"detection_checkpoint_interval_ms": 3000})
    output = settings.home / "run-output.log"
    with output.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "fraudstream.cli", "run", "--no-banks", "--no-dashboard"],
            env=env_for(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        procs.wait_until(
            lambda: "fraudstream is running" in output.read_text(errors="replace"),
            timeout=400,
            component="fraudstream run",
            what="the stack and the job",
            log_file=output,
        )
        yield settings, child, output
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=240)
            except subprocess.TimeoutExpired:
                child.kill()
        Stack(settings).down()
        target = ARTIFACTS / "supervise-stack-logs"
        shutil.rmtree(target, ignore_errors=True)
        if settings.logs_dir.exists():
            shutil.copytree(settings.logs_dir, target)
            shutil.copy(output, target / "run-output.log")
        shutil.rmtree(settings.home, ignore_errors=True)


def _produce(settings: Settings, factory: TransactionFactory) -> None:
    producer = Producer({**settings.kafka_client_config(), "acks": "all"})
    for _ in range(BATCH):
        _, key, value, _ = factory.make()
        producer.produce(settings.topic_transactions, value=value, key=key)
    assert producer.flush(30) == 0


def _wait_archived(settings: Settings, bank_id: str, count: int) -> None:
    def archived() -> bool:
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute(
                "SELECT count(*) FROM transactions WHERE bank_id = %s", (bank_id,)
            ).fetchone()
        return row is not None and row[0] >= count

    procs.wait_until(
        archived, timeout=240, component="detection job", what=f"{count} rows archived"
    )


def _restarted(stack: Stack, name: str, old_pid: int) -> None:
    proc = stack.process(name)
    procs.wait_until(
        lambda: proc.pid() not in (None, old_pid) and proc.alive(),
        timeout=60,
        component=name,
        what="a restart by the supervisor",
        log_file=proc.log_file,
    )


def _completed_checkpoints(settings: Settings, job_id: str) -> int:
    response = requests.get(f"{settings.flink_rest}/jobs/{job_id}/checkpoints", timeout=5)
    response.raise_for_status()
    return int(response.json()["counts"]["completed"])


def _status(stack: Stack, name: str) -> tuple[int, str]:
    component = next(c for c in stack.status() if c.name == name)
    return component.restarts, component.last_exit


@pytest.mark.timeout(1200)
def test_killed_processes_come_back_by_themselves_and_the_job_resumes(
    running: tuple[Settings, subprocess.Popen[bytes], Path],
) -> None:
    settings, child, output = running
    stack = Stack(settings)
    bank_id = f"SUPERVISE_{uuid.uuid4().hex[:8]}"
    factory = TransactionFactory(LoadShape(bank_id=bank_id, cards=50))
    first_job = detection.active_job(settings)
    assert first_job is not None, output.read_text()
    _produce(settings, factory)
    _wait_archived(settings, bank_id, BATCH)

    # The TaskManager: Flink restarts the job on the new one by itself.
    tm = stack.process("flink-taskmanager")
    old = tm.pid()
    assert old is not None
    procs.kill(tm)
    _restarted(stack, "flink-taskmanager", old)
    _produce(settings, factory)
    _wait_archived(settings, bank_id, 2 * BATCH)
    assert _status(stack, "flink-taskmanager") == (1, "killed by SIGKILL")
    again = detection.active_job(settings)
    assert again is not None and again.job_id == first_job.job_id

    # The JobManager: the session cluster forgets its jobs; the supervisor
    # resubmits the job, which resumes from its newest retained checkpoint.
    procs.wait_until(
        lambda: _completed_checkpoints(settings, first_job.job_id) > 0,
        timeout=60,
        component="detection job",
        what="a completed checkpoint",
    )
    jm = stack.process("flink-jobmanager")
    old = jm.pid()
    assert old is not None
    procs.kill(jm)
    _restarted(stack, "flink-jobmanager", old)

    def resubmitted() -> bool:
        job = detection.active_job(settings)
        return job is not None and job.job_id != first_job.job_id and job.state == "RUNNING"

    procs.wait_until(
        resubmitted,
        timeout=240,
        component="detection job",
        what="resubmission after the JobManager restart",
        log_file=settings.logs_dir / "job-resubmit.log",
    )
    _produce(settings, factory)
    _wait_archived(settings, bank_id, 3 * BATCH)
    assert _status(stack, "flink-jobmanager") == (1, "killed by SIGKILL")
    assert "resuming from" in (settings.logs_dir / "job-resubmit.log").read_text()

    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=240) == 0, output.read_text()[-3000:]
