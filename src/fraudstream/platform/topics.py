"""The project's topics, their specs and idempotent creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._metadata import ClusterMetadata
from confluent_kafka.cimpl import NewTopic

from fraudstream.config import Settings
from fraudstream.platform.retry import Deadline, NotReady, retry

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
    """transactions, fraud-alerts, the dead-letter topic, the labels topic and the
    validated transactions the archive job reads."""
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
        settings.topic_valid,
    )
    return [TopicSpec(name, settings.topic_partitions, replication, dict(config)) for name in names]


def admin_client(settings: Settings) -> AdminClient:
    config: dict[str, Any] = dict(settings.kafka_client_config())
    # librdkafka's own log lines go through Python logging, not raw stderr.
    config["logger"] = logging.getLogger("librdkafka.admin")
    return AdminClient(config)


# Errors that waiting does not fix; every other Kafka error during start-up
# is taken as the cluster still settling (brokers joining, leaders moving,
# librdkafka dropping a connection whose broker left the metadata).
PERMANENT_ERRORS = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._INVALID_ARG,
        KafkaError._SSL,
        KafkaError._UNSUPPORTED_FEATURE,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.INVALID_CONFIG,
        KafkaError.INVALID_PARTITIONS,
        KafkaError.INVALID_REQUEST,
        KafkaError.POLICY_VIOLATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.UNSUPPORTED_VERSION,
    }
)


def transient(exc: BaseException) -> bool:
    """True when ``exc`` is a Kafka error a retry may get past."""
    if not isinstance(exc, KafkaException):
        return False
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return True
    return not error.fatal() and error.code() not in PERMANENT_ERRORS


def create_missing(admin: AdminClient, specs: list[TopicSpec], *, timeout: float = 30.0) -> None:
    """Create the topics of ``specs`` that do not exist; raise the first other error."""
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


def unready(
    metadata: ClusterMetadata, names: Iterable[str], *, min_isr: int = 1
) -> tuple[str, set[int]] | None:
    """Why the topics ``names`` cannot serve ``acks=all`` yet, or None when they can.

    Returns a description and the ids of the brokers holding things up
    (replicas that are neither leading nor in sync), so the caller can point
    at their logs.
    """
    for name in names:
        topic = metadata.topics.get(name)
        if topic is None:
            return f"topic {name} not in the metadata", set()
        if topic.error is not None:
            return f"topic {name}: {topic.error.str()}", set()
        for pid, partition in sorted(topic.partitions.items()):
            replicas = set(partition.replicas)
            if partition.leader < 0:
                return f"topic {name} partition {pid} has no leader", replicas
            needed = min(min_isr, len(replicas))
            if len(partition.isrs) < needed:
                return (
                    f"topic {name} partition {pid} has {len(partition.isrs)} in-sync "
                    f"replicas, needs {needed}",
                    replicas - set(partition.isrs),
                )
    return None


def ensure_topics(
    admin: AdminClient,
    specs: list[TopicSpec],
    *,
    timeout: float = 30.0,
    deadline: Deadline | None = None,
    min_isr: int = 1,
) -> None:
    """Create missing topics and wait until each partition has a leader.

    Existing topics are left as they are (a partition count that differs is
    logged). ``min_isr`` also waits for that many in-sync replicas per
    partition. Transient errors are retried until ``deadline`` (default:
    ``timeout`` from now); failure raises ``ReadinessError``.
    """
    deadline = deadline or Deadline(timeout)
    request_timeout = max(1.0, min(timeout, 10.0))
    retry(
        lambda: create_missing(admin, specs, timeout=request_timeout),
        deadline=deadline,
        component="kafka",
        what="topic creation",
        transient=transient,
    )
    names = [spec.name for spec in specs]

    def check() -> ClusterMetadata:
        metadata = admin.list_topics(timeout=request_timeout)
        problem = unready(metadata, names, min_isr=min_isr)
        if problem is not None:
            raise NotReady(problem[0])
        return metadata

    metadata = retry(
        check, deadline=deadline, component="kafka", what="topic leaders", transient=transient
    )
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
