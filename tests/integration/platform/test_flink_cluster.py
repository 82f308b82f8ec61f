"""The Flink session cluster runs SQL jobs through the Kafka connector."""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests
from confluent_kafka import Consumer, Producer

from fraudstream.config import Settings
from fraudstream.platform import flink, flinkclient


def test_taskmanager_registered_with_expected_slots(settings: Settings) -> None:
    managers = flink.taskmanagers(settings.flink_rest)
    assert len(managers) >= 1
    assert flink.total_slots(settings.flink_rest) >= settings.flink_taskmanager_slots


def test_sql_job_reads_and_writes_kafka_on_the_cluster(
    settings: Settings, new_topic: Callable[..., str], group_id: str
) -> None:
    source, sink = new_topic("flink-in"), new_topic("flink-out")
    producer = Producer({**settings.kafka_client_config(), "acks": "all"})
    for i in range(30):
        producer.produce(source, json.dumps({"n": i, "word": f"w{i}"}).encode())
    assert producer.flush(30) == 0

    env = flinkclient.table_env(settings, config={"parallelism.default": 1})
    bootstrap = settings.bootstrap_servers
    env.execute_sql(
        f"""
        CREATE TABLE src (n INT, word STRING) WITH (
          'connector' = 'kafka', 'topic' = '{source}',
          'properties.bootstrap.servers' = '{bootstrap}',
          'properties.group.id' = '{group_id}',
          'scan.startup.mode' = 'earliest-offset',
          'scan.bounded.mode' = 'latest-offset',
          'format' = 'json')
        """
    )
    env.execute_sql(
        f"""
        CREATE TABLE dst (n INT, doubled INT) WITH (
          'connector' = 'kafka', 'topic' = '{sink}',
          'properties.bootstrap.servers' = '{bootstrap}',
          'format' = 'json')
        """
    )
    result = env.execute_sql("INSERT INTO dst SELECT n, n * 2 FROM src WHERE n % 2 = 0")
    job_id = str(result.get_job_client().get_job_id())
    result.wait(120_000)

    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": group_id + "-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink])
    got: list[dict[str, int]] = []
    deadline = time.monotonic() + 60
    while len(got) < 15 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(json.loads(msg.value()))
    consumer.close()
    assert sorted(r["n"] for r in got) == list(range(0, 30, 2))
    assert all(r["doubled"] == 2 * r["n"] for r in got)
    # It ran on the session cluster, not in this process.
    jobs = flink.overview(settings.flink_rest)
    assert jobs["jobs-finished"] >= 1, job_id


def test_rest_api_refuses_jar_upload_and_run(settings: Settings, tmp_path: Path) -> None:
    """Web submission is off: no jar reaches the cluster through the REST API."""
    jar = tmp_path / "job.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
    with jar.open("rb") as handle:
        upload = requests.post(
            f"{settings.flink_rest}/jars/upload",
            files={"jarfile": ("job.jar", handle, "application/x-java-archive")},
            timeout=10,
        )
    # Flink answers 400 "POST request not allowed" when no handler takes the path.
    assert upload.status_code >= 400, upload.text
    listing = requests.get(f"{settings.flink_rest}/jars", timeout=10)
    assert listing.status_code >= 400
    run = requests.post(f"{settings.flink_rest}/jars/job.jar/run", json={}, timeout=10)
    assert run.status_code >= 400, run.text
    assert "jobs" not in run.text.lower() or "jobid" not in run.text.lower()


def test_web_ui_offers_neither_submission_nor_cancellation(settings: Settings) -> None:
    features = requests.get(f"{settings.flink_rest}/config", timeout=10).json()["features"]
    assert features["web-submit"] is False
    assert features["web-cancel"] is False
