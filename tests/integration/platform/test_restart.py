"""``stack up`` after ``stack down`` (or Ctrl-C of ``fraudstream run``) on a used data folder.

A stack of its own, on free ports in its own folder, so the session stack the
other tests share is never stopped. The data folder holds a topic with records,
the migrated archive with a row and the Flink checkpoint folder; five times in
a row the stack goes down and comes up again, and each time the brokers, the
topics, PostgreSQL and Flink must answer with the data intact and writable.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from fraudstream.config import Settings, env_for
from fraudstream.platform import flink, kafka, procs, topics
from fraudstream.platform.stack import Stack

from ..conftest import ARTIFACTS, _fresh_settings

RECORDS = 50
# How each down/up cycle stops the stack: the API (what `stack down` calls),
# the `fraudstream stack down`/`up` commands, and Ctrl-C of `fraudstream run`.
CYCLES = ("api", "cli", "run-interrupted", "api", "cli")


@pytest.fixture
def restart_stack() -> Iterator[Stack]:
    settings = _fresh_settings()
    stack = Stack(settings)
    try:
        yield stack
    finally:
        stack.down()
        target = ARTIFACTS / "restart-stack-logs"
        shutil.rmtree(target, ignore_errors=True)
        if settings.logs_dir.exists():
            shutil.copytree(settings.logs_dir, target)
        shutil.rmtree(settings.home, ignore_errors=True)


def _produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(
        {**settings.kafka_client_config(), "acks": "all", "enable.idempotence": True}
    )
    errors: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for value in values:
        producer.produce(topic, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "records still in flight after 30 s"
    assert errors == []


def _read_all(settings: Settings, topic: str, partitions: int, expected: int) -> list[bytes]:
    # Assigned partitions, no group: nothing to join, so nothing to wait for.
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"restart-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def _fraudstream(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream.cli", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _interrupt_run(settings: Settings) -> None:
    """`fraudstream run` on the running stack, then Ctrl-C: it must stop the stack."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudstream.cli",
            "run",
            "--no-job",
            "--no-banks",
            "--no-dashboard",
        ],
        env=env_for(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        output: list[str] = []
        for line in child.stdout:
            output.append(line)
            if "fraudstream is running" in line:
                break
        else:
            pytest.fail("fraudstream run ended before announcing:\n" + "".join(output))
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=180)
        output.append(rest)
        assert child.returncode == 0, "".join(output)
        assert "Traceback" not in "".join(output)
    finally:
        if child.poll() is None:
            procs.stop_pid(child.pid, timeout=60)
            child.wait()


def _pids(stack: Stack) -> dict[str, int]:
    found = {name: stack.process(name).pid() for name in stack.component_names()}
    assert None not in found.values(), found
    return {name: pid for name, pid in found.items() if pid is not None}


def _assert_stopped(pids: dict[str, int]) -> None:
    running = {name: pid for name, pid in pids.items() if procs.pid_alive(pid)}
    assert running == {}, f"still running after down: {running}"


def _assert_up_with_data(stack: Stack, topic: str, marker: str, cycle: int) -> None:
    s = stack.settings
    unhealthy = [c for c in stack.status() if not c.healthy]
    assert unhealthy == [], f"cycle {cycle}: {unhealthy}"

    admin = topics.admin_client(s)
    metadata = admin.list_topics(timeout=10)
    broker_ids = {n.node_id for n in kafka.nodes(s) if n.role == "broker"}
    assert set(metadata.brokers) == broker_ids
    for spec in topics.topic_specs(s):
        assert len(metadata.topics[spec.name].partitions) == spec.partitions

    # Writable with acks=all (leaders and min ISR back), and nothing lost.
    _produce(s, topic, [f"after-restart-{cycle}".encode()])
    expected = RECORDS + cycle
    values = _read_all(s, topic, partitions=3, expected=expected)
    assert len(values) == expected, f"cycle {cycle}: {len(values)} of {expected} records"
    assert {f"record-{i}".encode() for i in range(RECORDS)} <= set(values)

    with psycopg.connect(s.dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT reason FROM blocklist WHERE kind = 'merchant' AND value = %s", (marker,)
        ).fetchone()
        assert row == ("kept across restarts",)
    assert (flink.checkpoint_dir(s) / "marker").read_text() == "checkpoint data"


def test_stack_comes_up_after_each_of_five_restarts(restart_stack: Stack) -> None:
    stack = restart_stack
    s = stack.settings
    stack.up()

    topic = f"restart-{uuid.uuid4().hex[:12]}"
    spec = topics.TopicSpec(
        topic, 3, s.topic_replication, {"min.insync.replicas": str(s.topic_min_isr)}
    )
    topics.ensure_topics(topics.admin_client(s), [spec])
    _produce(s, topic, [f"record-{i}".encode() for i in range(RECORDS)])
    marker = f"restart-{uuid.uuid4().hex[:12]}"
    with psycopg.connect(s.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocklist (kind, value, reason) VALUES ('merchant', %s, %s)",
            (marker, "kept across restarts"),
        )
    # Stands for the job's checkpoints: restarting must leave the folder alone.
    (flink.checkpoint_dir(s) / "marker").write_text("checkpoint data")

    timings: list[str] = []
    for cycle, how in enumerate(CYCLES, start=1):
        began = time.monotonic()
        pids = _pids(stack)
        if how == "api":
            stack.down()
            _assert_stopped(pids)
            stack.up()
        elif how == "cli":
            down = _fraudstream(s, "stack", "down")
            assert down.returncode == 0, down.stderr
            _assert_stopped(pids)
            up = _fraudstream(s, "stack", "up")
            assert up.returncode == 0, up.stderr[-3000:]
            assert "Traceback" not in up.stderr
        else:
            _interrupt_run(s)
            _assert_stopped(pids)
            stack.up()
        timings.append(f"{how} {time.monotonic() - began:.1f}s")
        _assert_up_with_data(stack, topic, marker, cycle)
    print("restart cycles:", ", ".join(timings))
