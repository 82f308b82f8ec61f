"""The local stack with FRAUDSTREAM_KAFKA_SECURITY=scram: every role does its
job over SASL/SCRAM, and what a role may not do is refused by the brokers'
ACLs; clients without credentials or with a wrong password get nowhere.

This module starts its own stack (Kafka with SCRAM, Flink, PostgreSQL) rather
than the session's plaintext one, and runs the detection job on it: the
job's Kafka connectors log in as the job role, its JDBC sinks as the job's
PostgreSQL role.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from fraudstream.config import Settings
from fraudstream.detection import job
from fraudstream.platform import ports
from fraudstream.platform.stack import Stack
from fraudstream.records import Transaction

from ..conftest import ARTIFACTS, REPO_ROOT

RULES = """\
rules:
  - id: high-amount
    type: high_amount
    severity: high
    description: Single transaction above an absolute limit
    params:
      threshold: 5000
"""
DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}


@pytest.fixture(scope="module")
def scram() -> Iterator[Settings]:
    home = Path(tempfile.mkdtemp(prefix="fraudstream-scram-"))
    home.chmod(0o755)
    (controller, b1, b2, b3, rest, rpc, pg) = ports.free_ports(7)
    settings = Settings(
        home=home,
        jvm_dir=REPO_ROOT / ".fraudstream" / "jvm",
        kafka_security="scram",
        kafka_controller_port=controller,
        kafka_broker_ports=[b1, b2, b3],
        flink_rest_port=rest,
        flink_jobmanager_rpc_port=rpc,
        postgres_port=pg,
        detection_parallelism=1,
        detection_job_name=f"scram-{uuid.uuid4().hex[:8]}",
    )
    stack = Stack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()
        target = ARTIFACTS / "stack-logs-scram"
        shutil.rmtree(target, ignore_errors=True)
        if settings.logs_dir.exists():
            shutil.copytree(settings.logs_dir, target)
        shutil.rmtree(home, ignore_errors=True)


def _tx(amount: float) -> Transaction:
    return Transaction(
        transaction_id=str(uuid.uuid4()),
        bank_id="BANK_A",
        payment_system="VISA",
        card_number="4111111111111111",
        user_id=4242,
        amount=amount,
        currency="EUR",
        merchant=f"Scram Merchant {uuid.uuid4().hex[:6]}",
        country="DE",
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
    )


def _produce(config: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """Produce one record; the delivery error (None when delivered)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 15000})
    producer.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(20)
    assert outcome, "no delivery report"
    return outcome[0]


def _consume(config: dict[str, Any], topic: str, group: str, *, want: int = 1) -> list[Any]:
    """Read from the start of ``topic``; raise the first error the broker sends."""
    consumer = Consumer(
        {**config, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    try:
        deadline = datetime.now(UTC).timestamp() + 60
        while len(got) < want and datetime.now(UTC).timestamp() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            got.append(msg)
    finally:
        consumer.close()
    return got


def _refused_read(config: dict[str, Any], topic: str, group: str) -> int:
    with pytest.raises(KafkaException) as caught:
        _consume(config, topic, group)
    return int(caught.value.args[0].code())


def _connect_errors(config: dict[str, Any]) -> set[int]:
    """Ask for metadata, which must fail; the error codes the client saw."""
    errors: list[KafkaError] = []
    admin = AdminClient({**config, "error_cb": errors.append, "socket.timeout.ms": 5000})
    with pytest.raises(KafkaException) as caught:
        admin.list_topics(timeout=8)
    for _ in range(10):  # error_cb is served by poll
        admin.poll(0.2)
    return {int(caught.value.args[0].code()), *(int(e.code()) for e in errors)}


def test_producer_writes_transactions_and_nothing_else(scram: Settings) -> None:
    producer = scram.kafka_client_config("producer")
    assert _produce(producer, scram.topic_transactions, _tx(10.0).to_json()) is None
    denied = _produce(producer, scram.topic_alerts, b"{}")
    assert denied is not None and denied.code() in DENIED
    group = f"fraudstream-dashboard-{uuid.uuid4().hex[:8]}"
    assert _refused_read(producer, scram.topic_alerts, group) in DENIED


def test_job_reads_transactions_in_its_group_and_writes_alerts_and_dlq(scram: Settings) -> None:
    job_role = scram.kafka_client_config("job")
    assert _produce(job_role, scram.topic_dlq, b'{"reason": "test"}') is None
    denied = _produce(job_role, scram.topic_transactions, _tx(10.0).to_json())
    assert denied is not None and denied.code() in DENIED
    # Another group than its own is refused.
    assert _refused_read(job_role, scram.topic_transactions, "some-other-group") in DENIED


def test_dashboard_cannot_write_transactions_or_read_them(scram: Settings) -> None:
    dashboard = scram.kafka_client_config("dashboard")
    denied = _produce(dashboard, scram.topic_transactions, _tx(10.0).to_json())
    assert denied is not None and denied.code() in DENIED
    group = f"fraudstream-dashboard-{uuid.uuid4().hex[:8]}"
    assert _refused_read(dashboard, scram.topic_transactions, group) in DENIED


def test_clients_without_credentials_or_with_a_wrong_password_are_refused(
    scram: Settings,
) -> None:
    anonymous = {"bootstrap.servers": scram.bootstrap_servers, "security.protocol": "PLAINTEXT"}
    assert _connect_errors(anonymous)
    wrong = {**scram.kafka_client_config("producer"), "sasl.password": "not-the-password"}
    errors = _connect_errors(wrong)
    assert errors & {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}, errors
    # The controller listener takes no anonymous client either.
    controller = {"bootstrap.servers": scram.controller_address, "security.protocol": "PLAINTEXT"}
    assert _connect_errors(controller)


def test_detection_job_runs_as_the_job_role_end_to_end(scram: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    job_id = job.submit(scram, rules=rules)
    try:
        job.wait_running(scram, job_id, timeout=180)
        fraud = _tx(9876.5)
        assert (
            _produce(
                scram.kafka_client_config("producer"), scram.topic_transactions, fraud.to_json()
            )
            is None
        )
        group = f"fraudstream-dashboard-{uuid.uuid4().hex[:8]}"
        found: list[dict[str, Any]] = []
        deadline = datetime.now(UTC).timestamp() + 120
        while not found and datetime.now(UTC).timestamp() < deadline:
            for msg in _consume(scram.kafka_client_config("dashboard"), scram.topic_alerts, group):
                alert = json.loads(msg.value())
                if alert.get("transaction_id") == fraud.transaction_id:
                    found.append(alert)
        assert found, "the job's alert did not reach the dashboard's role"
        assert job.status(scram, job_id).state == "RUNNING"
    finally:
        job.cancel(scram, job_id)
        job.wait_terminal(scram, job_id)
