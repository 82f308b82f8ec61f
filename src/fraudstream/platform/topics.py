"""The project's topics, their specs and idempotent creation."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.cimpl import NewTopic

from fraudstream.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict[str, str] = field(default_factory=dict)

    def new_topic(self) -> NewTopic:
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication,
            config=dict(self.config),
        )


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """transactions, fraud-alerts, the dead-letter topic and the labels topic."""
    brokers = len(settings.kafka_broker_ports) if settings.kafka_local else None
    replication = settings.topic_replication
    if brokers is not None:
        replication = min(replication, brokers)
    config = {"min.insync.replicas": str(min(settings.topic_min_isr, replication))}
    names = (
        settings.topic_transactions,
        settings.topic_alerts,
        settings.topic_dlq,
        settings.topic_labels,
    )
    return [TopicSpec(name, settings.topic_partitions, replication, dict(config)) for name in names]


def admin_client(settings: Settings) -> AdminClient:
    config: dict[str, Any] = dict(settings.kafka_client_config())
    # librdkafka's own log lines go through Python logging, not raw stderr.
    config["logger"] = logging.getLogger("librdkafka.admin")
    return AdminClient(config)


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], *, timeout: float = 30.0) -> None:
    """Create missing topics; existing ones are left as they are (and checked)."""
    futures = admin.create_topics(
        [spec.new_topic() for spec in specs], operation_timeout=timeout, request_timeout=timeout
    )
    for name, future in futures.items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise
    _check(admin, specs, timeout)


def _check(admin: AdminClient, specs: list[TopicSpec], timeout: float) -> None:
    # New topics reach every broker's metadata cache a moment after creation.
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        missing = [
            spec.name
            for spec in specs
            if spec.name not in metadata.topics
            or metadata.topics[spec.name].error is not None
            or any(p.leader < 0 for p in metadata.topics[spec.name].partitions.values())
        ]
        if not missing:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {missing} not ready {timeout:.0f}s after creation")
        time.sleep(0.2)
    for spec in specs:
        topic = metadata.topics[spec.name]
        if len(topic.partitions) != spec.partitions:
            log.warning(
                "topic %s has %d partitions, expected %d (left as is)",
                spec.name,
                len(topic.partitions),
                spec.partitions,
            )


def describe(admin: AdminClient, name: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """Partitions, replication, in-sync replicas and min ISR of one topic."""
    metadata = admin.list_topics(topic=name, timeout=timeout)
    topic = metadata.topics[name]
    if topic.error is not None:
        raise KafkaException(topic.error)
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = admin.describe_configs([resource], request_timeout=timeout)[resource].result()
    partitions: dict[int, dict[str, Any]] = {
        pid: {"leader": p.leader, "replicas": list(p.replicas), "isrs": list(p.isrs)}
        for pid, p in sorted(topic.partitions.items())
    }
    return {
        "name": name,
        "partitions": len(partitions),
        "replication": len(next(iter(partitions.values()))["replicas"]) if partitions else 0,
        "min_insync_replicas": int(configs["min.insync.replicas"].value),
        "detail": partitions,
    }
