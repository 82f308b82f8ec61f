"""A local Kafka cluster in KRaft mode: one controller (or a quorum of three) and N brokers.

Each node is a separate JVM (``kafka.Kafka <properties>``) built from the jars
Maven fetched. Storage is formatted once with one cluster id; restarting a
node reuses its data.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from fraudstream.config import Settings
from fraudstream.platform import jvm
from fraudstream.platform.jvm import PrerequisiteError

log = logging.getLogger(__name__)

CONTROLLER_NODE_ID = 1
CONTROLLER_LISTENER = "CONTROLLER"
BROKER_LISTENER = "PLAINTEXT"
# With kafka_security=scram: the broker listener's name (SASL_PLAINTEXT).
SCRAM_LISTENER = "BROKER"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka
logger.clients.level = INFO
"""


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft process: its name, id, role and where it keeps things."""

    name: str
    node_id: int
    role: str  # "controller" or "broker"
    port: int
    config_file: Path
    data_dir: Path


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def controller_name(index: int) -> str:
    """``kafka-controller`` for the first controller, ``kafka-controller-N`` for the others."""
    return "kafka-controller" if index == 1 else f"kafka-controller-{index}"


def nodes(settings: Settings) -> list[KafkaNode]:
    """Controllers first, then brokers. Broker ids follow the first controller's
    (2, 3, 4); the second and third controller come after the brokers, so a
    quorum never renumbers a broker."""
    conf = settings.home / "conf" / "kafka"
    data = settings.data_dir / "kafka"
    brokers = len(settings.kafka_broker_ports)
    result = []
    for index, port in enumerate(settings.controller_ports, start=1):
        suffix = "" if index == 1 else f"-{index}"
        result.append(
            KafkaNode(
                controller_name(index),
                CONTROLLER_NODE_ID if index == 1 else CONTROLLER_NODE_ID + brokers + index - 1,
                "controller",
                port,
                conf / f"controller{suffix}.properties",
                data / f"controller{suffix}",
            )
        )
    for index, port in enumerate(settings.kafka_broker_ports, start=1):
        result.append(
            KafkaNode(
                f"kafka-broker-{index}",
                CONTROLLER_NODE_ID + index,
                "broker",
                port,
                conf / f"broker-{index}.properties",
                data / f"broker-{index}",
            )
        )
    return result


def _render(props: dict[str, str | int]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def quorum_voters(settings: Settings) -> str:
    return ",".join(
        f"{node.node_id}@{settings.host}:{node.port}"
        for node in nodes(settings)
        if node.role == "controller"
    )


def node_properties(settings: Settings, node: KafkaNode) -> dict[str, str | int]:
    """server.properties of one node (KRaft, static controller quorum)."""
    host = settings.host
    common: dict[str, str | int] = {
        "process.roles": node.role,
        "node.id": node.node_id,
        "controller.quorum.voters": quorum_voters(settings),
        "controller.listener.names": CONTROLLER_LISTENER,
        "listener.security.protocol.map": (
            f"{CONTROLLER_LISTENER}:PLAINTEXT,{BROKER_LISTENER}:PLAINTEXT"
        ),
        "log.dirs": str(node.data_dir),
    }
    if settings.kafka_scram:
        common.update(scram_properties(settings, node))
    if node.role == "controller":
        common["listeners"] = f"{CONTROLLER_LISTENER}://{host}:{node.port}"
        return common
    replication = min(settings.topic_replication, len(settings.kafka_broker_ports))
    min_isr = min(settings.topic_min_isr, replication)
    listener = broker_listener(settings)
    common.update(
        {
            "listeners": f"{listener}://{host}:{node.port}",
            "advertised.listeners": f"{listener}://{host}:{node.port}",
            "inter.broker.listener.name": listener,
            # Topics we do not create explicitly (internal ones included) get
            # the same durability as ours.
            "num.partitions": settings.topic_partitions,
            "default.replication.factor": replication,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": replication,
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_isr,
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": 0,
            # Flink's exactly-once Kafka sink asks for 1 h transactions by default.
            "transaction.max.timeout.ms": 3_600_000,
            "unclean.leader.election.enable": "false",
            "log.retention.hours": 168,
            "log.segment.bytes": 256 * 1024 * 1024,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
    )
    return common


_UNSAFE = frozenset('"\\,]')


def check_credential(value: str) -> str:
    """``value`` if it can travel in a JAAS line and in ``--add-scram``, else ValueError."""
    if _UNSAFE & set(value):
        raise ValueError('Kafka user names and passwords may not contain " \\ , or ]')
    return value


def _jaas(module: str, **options: str) -> str:
    """A JAAS configuration line."""
    for value in options.values():
        check_credential(value)
    pairs = " ".join(f'{key}="{value}"' for key, value in options.items())
    return f"{module} required {pairs};"


def scram_properties(settings: Settings, node: KafkaNode) -> dict[str, str | int]:
    """SASL listeners and the ACL authorizer of one node (``kafka_security=scram``).

    Clients and brokers authenticate with SCRAM on the broker listener; the
    credentials live in the cluster metadata (the admin's is written at
    format time). The controller listener uses SASL/PLAIN with the admin's
    password from this file: SCRAM cannot authenticate the connections that
    deliver the metadata holding the SCRAM credentials. The admin is the
    only super user; everyone else gets exactly the ACLs of ``acls.py``.
    """
    user, password = settings.kafka_credentials("admin")
    mechanism = settings.kafka_scram_mechanism
    props: dict[str, str | int] = {
        "listener.security.protocol.map": (
            f"{CONTROLLER_LISTENER}:SASL_PLAINTEXT,{SCRAM_LISTENER}:SASL_PLAINTEXT"
        ),
        "sasl.mechanism.controller.protocol": "PLAIN",
        f"listener.name.{CONTROLLER_LISTENER.lower()}.sasl.enabled.mechanisms": "PLAIN",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{user}",
        "allow.everyone.if.no.acl.found": "false",
    }
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    if node.role == "controller":
        props["sasl.enabled.mechanisms"] = "PLAIN"
        props[f"listener.name.{CONTROLLER_LISTENER.lower()}.plain.sasl.jaas.config"] = _jaas(
            plain, username=user, password=password, **{f"user_{user}": password}
        )
        return props
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    props.update(
        {
            "sasl.enabled.mechanisms": mechanism,
            "sasl.mechanism.inter.broker.protocol": mechanism,
            f"listener.name.{SCRAM_LISTENER.lower()}.{mechanism.lower()}.sasl.jaas.config": _jaas(
                scram, username=user, password=password
            ),
            f"listener.name.{CONTROLLER_LISTENER.lower()}.plain.sasl.jaas.config": _jaas(
                plain, username=user, password=password
            ),
        }
    )
    return props


def broker_listener(settings: Settings) -> str:
    return SCRAM_LISTENER if settings.kafka_scram else BROKER_LISTENER


def write_configs(settings: Settings) -> list[KafkaNode]:
    all_nodes = nodes(settings)
    for node in all_nodes:
        node.config_file.parent.mkdir(parents=True, exist_ok=True)
        # The files may hold the admin's password: readable by us only.
        node.config_file.touch(mode=0o600, exist_ok=True)
        node.config_file.chmod(0o600)
        node.config_file.write_text(_render(node_properties(settings, node)))
    (settings.home / "conf" / "kafka" / "log4j2.properties").write_text(LOG4J2)
    return all_nodes


def java_argv(settings: Settings, main: str, *args: str, heap: str | None = None) -> list[str]:
    java = str(jvm.java_home() / "bin" / "java")
    heap = heap or settings.kafka_heap
    log4j = settings.home / "conf" / "kafka" / "log4j2.properties"
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={settings.logs_dir}",
        "-cp",
        jvm.kafka_classpath(settings.jvm_home),
        main,
        *args,
    ]


def server_argv(settings: Settings, node: KafkaNode) -> list[str]:
    return java_argv(settings, "kafka.Kafka", str(node.config_file))


def format_argv(settings: Settings, node: KafkaNode, cluster_id: str) -> list[str]:
    extra: list[str] = []
    if settings.kafka_scram and node.role == "controller":
        # The admin's SCRAM credential must exist before any broker can log
        # in with it: it goes into the metadata log's bootstrap snapshot.
        user, password = map(check_credential, settings.kafka_credentials("admin"))
        extra.append(
            f"--add-scram={settings.kafka_scram_mechanism}=[name={user},password={password}]"
        )
    return java_argv(
        settings,
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        # "=" form: a cluster id may start with "-".
        f"--cluster-id={cluster_id}",
        f"--config={node.config_file}",
        *extra,
        heap="256m",
    )


def security_file(settings: Settings) -> Path:
    """Which security the Kafka data was formatted with (plaintext or scram)."""
    return settings.data_dir / "kafka" / "security"


def check_security(settings: Settings) -> None:
    """Refuse scram on data formatted without it: the admin's credential is missing."""
    path = security_file(settings)
    formatted = path.read_text().strip() if path.is_file() else "plaintext"
    if settings.kafka_scram and formatted != "scram":
        raise jvm.PrerequisiteError(
            "the local Kafka data was formatted without SCRAM credentials; "
            "FRAUDSTREAM_KAFKA_SECURITY=scram needs a fresh cluster: "
            "`fraudstream stack down --purge` (deletes the local data), then `stack up`"
        )


def record_security(settings: Settings) -> None:
    path = security_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(settings.kafka_security + "\n")


def is_formatted(node: KafkaNode) -> bool:
    return (node.data_dir / "meta.properties").is_file()


def cluster_id_file(settings: Settings) -> Path:
    return settings.data_dir / "kafka" / "cluster.id"


def cluster_id(settings: Settings) -> str:
    """The stack's cluster id, created on first use and kept with the data."""
    path = cluster_id_file(settings)
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = new_cluster_id()
    path.write_text(value + "\n")
    quorum_file(settings).write_text(f"{settings.kafka_controllers}\n")
    return value


def quorum_file(settings: Settings) -> Path:
    return settings.data_dir / "kafka" / "controllers"


def check_quorum(settings: Settings) -> None:
    """A static KRaft quorum cannot change size on existing data: say so before starting.

    A data folder from before the quorum option has no record and had one controller.
    """
    if not cluster_id_file(settings).is_file():
        return
    try:
        formatted = int(quorum_file(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        formatted = 1
    if formatted != settings.kafka_controllers:
        raise PrerequisiteError(
            f"the Kafka data in {settings.data_dir / 'kafka'} was created with {formatted} "
            f"controller(s), FRAUDSTREAM_KAFKA_CONTROLLERS asks for "
            f"{settings.kafka_controllers}; keep {formatted}, or remove the data with "
            "`fraudstream stack down --purge` first"
        )
