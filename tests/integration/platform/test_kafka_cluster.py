"""The local Kafka cluster: KRaft quorum, three brokers, durable topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from fraudstream.config import Settings
from fraudstream.platform import kafka, ports, procs, topics
from fraudstream.platform.stack import Stack


def _produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(
        {**settings.kafka_client_config(), "acks": "all", "enable.idempotence": True}
    )
    errors: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for value in values:
        producer.produce(topic, value=value, key=value[:8], on_delivery=on_delivery)
    remaining = producer.flush(30)
    assert remaining == 0, "records still in flight after 30 s"
    assert errors == []


def _consume(settings: Settings, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got.append(msg.value())
    finally:
        consumer.close()
    return got


def test_metadata_lists_three_brokers_and_controller_is_reachable(
    settings: Settings, admin: AdminClient
) -> None:
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.brokers) == 3
    assert ports.can_connect(settings.host, settings.kafka_controller_port)


def test_project_topics_are_replicated(settings: Settings, admin: AdminClient) -> None:
    for name in (settings.topic_transactions, settings.topic_alerts, settings.topic_dlq):
        info = topics.describe(admin, name)
        assert info["partitions"] == 3
        assert info["replication"] == 3
        assert info["min_insync_replicas"] == 2


def test_topic_creation_is_idempotent(settings: Settings, admin: AdminClient) -> None:
    topics.ensure_topics(admin, topics.topic_specs(settings))
    topics.ensure_topics(admin, topics.topic_specs(settings))


def test_record_produced_with_acks_all_is_consumed(
    settings: Settings, new_topic: Callable[..., str], group_id: str
) -> None:
    topic = new_topic()
    values = [f"record-{i}-{uuid.uuid4()}".encode() for i in range(50)]
    _produce(settings, topic, values)
    assert sorted(_consume(settings, topic, group_id, len(values))) == sorted(values)


def _isr_complete(admin: AdminClient, topic: str, node_id: int) -> bool:
    info = topics.describe(admin, topic)
    detail = info["detail"]
    assert isinstance(detail, dict)
    return all(node_id in p["isrs"] for p in detail.values())


@pytest.mark.skipif(
    "FRAUDSTREAM_TEST_EXTERNAL" in __import__("os").environ, reason="kills a local broker"
)
def test_cluster_survives_a_killed_broker_and_it_rejoins(
    stack: Stack,
    settings: Settings,
    admin: AdminClient,
    new_topic: Callable[..., str],
    group_id: str,
) -> None:
    topic = new_topic()
    victim = next(n for n in kafka.nodes(settings) if n.name == "kafka-broker-2")
    proc = stack.process(victim.name)
    procs.kill(proc)
    assert not proc.alive()
    try:
        # Two of three replicas remain: acks=all still succeeds with min ISR 2.
        values = [f"during-outage-{i}".encode() for i in range(20)]
        _produce(settings, topic, values)
        assert sorted(_consume(settings, topic, group_id, len(values))) == sorted(values)
    finally:
        stack.start_node(victim.name)
    procs.wait_until(
        lambda: (
            _isr_complete(admin, topic, victim.node_id)
            and _isr_complete(admin, settings.topic_transactions, victim.node_id)
        ),
        timeout=90,
        component=victim.name,
        what="rejoin of the in-sync replica set",
        log_file=proc.log_file,
    )
