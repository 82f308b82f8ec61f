"""A detection job on the session cluster, with its own topics, group and job name.

The job runs a small test catalogue (a stateless and a stateful rule) so
the expected alerts are exact; PostgreSQL rows are told apart by the
transaction ids and topic names the test generated.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from fraudstream.archive import writer
from fraudstream.config import Settings
from fraudstream.detection import job
from fraudstream.platform import procs, topics

CATALOGUE = Path(__file__).with_name("rules.yaml")
HIGH_AMOUNT = "it-high-amount"
VELOCITY = "it-velocity"
VELOCITY_LIMIT = 3
THRESHOLD = 5000.0

CARDS = {
    "VISA": ("4111111111111111", "4012888888881881", "4000056655665556", "4242424242424242"),
    "MASTERCARD": ("5555555555554444", "5105105105105100"),
}


def fresh_visa() -> str:
    """A random 16-digit VISA number with a valid Luhn check digit."""
    body = "4" + "".join(random.choice("0123456789") for _ in range(14))
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


@dataclass
class Tx:
    """Builds valid transactions and remembers them by id."""

    sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def make(
        self, card: str = CARDS["VISA"][0], amount: float = 25.0, at: datetime | None = None
    ) -> dict[str, Any]:
        system = "VISA" if card.startswith("4") else "MASTERCARD"
        record = {
            "transaction_id": str(uuid.uuid4()),
            "bank_id": "BANK_IT",
            "payment_system": system,
            "card_number": card,
            "user_id": 42,
            "amount": amount,
            "currency": "USD",
            "merchant": "Integration Store",
            "country": "US",
            "timestamp": (at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        }
        self.sent[record["transaction_id"]] = record
        return record


@dataclass
class DetectionRun:
    settings: Settings
    producer: Producer
    dsn: str
    tx: Tx = field(default_factory=Tx)
    job_id: str | None = None

    def send(self, records: list[dict[str, Any] | bytes]) -> None:
        for record in records:
            if isinstance(record, bytes):
                self.producer.produce(self.settings.topic_transactions, record)
            else:
                key = record.get("card_number", "").encode()
                self.producer.produce(
                    self.settings.topic_transactions, json.dumps(record).encode(), key=key
                )
        assert self.producer.flush(30) == 0

    def submit(self, savepoint: str | None = None, rules: Path = CATALOGUE) -> str:
        self.job_id = job.submit(self.settings, rules=rules, savepoint=savepoint)
        job.wait_running(self.settings, self.job_id, timeout=180)
        return self.job_id

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def archived(self) -> list[str]:
        rows = self.query(
            "SELECT transaction_id FROM transactions WHERE transaction_id = ANY(%s)",
            list(self.tx.sent),
        )
        return [r[0] for r in rows]

    def alerts(self) -> list[tuple[str, str, str]]:
        return [
            (r[0], r[1], r[2])
            for r in self.query(
                "SELECT alert_id, rule_id, transaction_id FROM alerts "
                "WHERE transaction_id = ANY(%s)",
                list(self.tx.sent),
            )
        ]

    def rejected(self) -> list[str]:
        """Reasons of the rejected records of this run's topic, one per record."""
        rows = self.query(
            "SELECT reason FROM rejected_records WHERE source_topic = %s",
            self.settings.topic_transactions,
        )
        return [r[0] for r in rows]

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 90) -> None:
        procs.wait_until(check, timeout=timeout, component="detection job", what=what)

    def read_topic(self, topic: str, expected: int, timeout: float = 60) -> list[Any]:
        """Everything on ``topic`` (read_committed), once at least ``expected`` arrived."""
        consumer = Consumer(
            {
                **self.settings.kafka_client_config(),
                "group.id": f"it-read-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        got: list[Any] = []
        try:

            def enough() -> bool:
                for msg in consumer.consume(500, 0.5):
                    if not msg.error():
                        got.append(json.loads(msg.value()))
                return len(got) >= expected

            procs.wait_until(enough, timeout=timeout, component="kafka", what=f"{topic} records")
            # Anything more (a duplicate) would arrive right behind.
            for msg in consumer.consume(500, 2.0):
                if not msg.error():
                    got.append(json.loads(msg.value()))
        finally:
            consumer.close()
        return got


def _create_topics(admin: AdminClient, settings: Settings, names: list[str]) -> None:
    replication = min(settings.topic_replication, len(settings.kafka_broker_ports))
    topics.ensure_topics(
        admin,
        [
            topics.TopicSpec(
                n, 3, replication, {"min.insync.replicas": str(settings.topic_min_isr)}
            )
            for n in names
        ],
    )


@pytest.fixture(scope="module")
def run(settings: Settings, admin: AdminClient) -> Iterator[DetectionRun]:
    suffix = uuid.uuid4().hex[:10]
    run_settings = settings.model_copy(
        update={
            "topic_transactions": f"it-tx-{suffix}",
            "topic_alerts": f"it-alerts-{suffix}",
            "topic_dlq": f"it-dlq-{suffix}",
            "topic_valid": f"it-valid-{suffix}",
            "detection_job_name": f"it-detection-{suffix}",
            "detection_group_id": f"it-detection-{suffix}",
            "detection_parallelism": 1,
            "detection_checkpoint_interval_ms": 2000,
            # Own folder for the remembered savepoint; the jars stay shared.
            "home": settings.home / "it-detection" / suffix,
            "jvm_dir": settings.jvm_home,
        }
    )
    _create_topics(
        admin,
        run_settings,
        [
            run_settings.topic_transactions,
            run_settings.topic_alerts,
            run_settings.topic_dlq,
            run_settings.topic_valid,
        ],
    )
    producer = Producer(
        {**run_settings.kafka_client_config(), "acks": "all", "enable.idempotence": True}
    )
    the_run = DetectionRun(settings=run_settings, producer=producer, dsn=settings.dsn)
    # The archive writer, as `fraudstream run` starts it (here in a thread).
    archiver = writer.Background(run_settings).start()
    try:
        yield the_run
    finally:
        active = job.active_job(run_settings)
        if active is not None:
            job.cancel(run_settings, active.job_id)
            job.wait_terminal(run_settings, active.job_id)
        archiver.stop()
        # The archive may be a shared one: remove exactly what this run wrote.
        ids = list(the_run.tx.sent)
        the_run.query("DELETE FROM alerts WHERE transaction_id = ANY(%s) RETURNING 1", ids)
        the_run.query("DELETE FROM transactions WHERE transaction_id = ANY(%s) RETURNING 1", ids)
        the_run.query(
            "DELETE FROM rejected_records WHERE source_topic = %s RETURNING 1",
            run_settings.topic_transactions,
        )
        names = [
            run_settings.topic_transactions,
            run_settings.topic_alerts,
            run_settings.topic_dlq,
            run_settings.topic_valid,
        ]
        for future in admin.delete_topics(names).values():
            future.result()
