"""FRAUDSTREAM_KAFKA_SECURITY=scram: node properties, format arguments, client
configs per role and the ACL set, as data (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin._acl import AclOperation
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from fraudstream.config import Settings
from fraudstream.detection import pipeline
from fraudstream.platform import acls, kafka
from fraudstream.platform.jvm import PrerequisiteError


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        home=tmp_path,
        kafka_controller_port=1000,
        kafka_broker_ports=[1001, 1002, 1003],
        kafka_security="scram",
        **overrides,  # type: ignore[arg-type]
    )


def test_plaintext_stays_the_default(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert not s.kafka_scram
    assert s.kafka_client_config("producer")["security.protocol"] == "PLAINTEXT"
    broker = kafka.node_properties(s, kafka.nodes(s)[1])
    assert "authorizer.class.name" not in broker
    assert str(broker["listeners"]).startswith("PLAINTEXT://")


def test_scram_applies_to_the_local_stack_only(tmp_path: Path) -> None:
    external = Settings(home=tmp_path, kafka_security="scram", kafka_bootstrap="k:9092")
    assert not external.kafka_scram


def test_brokers_take_only_sasl_clients_and_authorize_every_request(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    broker = kafka.node_properties(s, kafka.nodes(s)[1])
    assert broker["listeners"] == "BROKER://127.0.0.1:1001"
    assert broker["inter.broker.listener.name"] == "BROKER"
    assert "BROKER:SASL_PLAINTEXT" in str(broker["listener.security.protocol.map"])
    assert "CONTROLLER:SASL_PLAINTEXT" in str(broker["listener.security.protocol.map"])
    assert broker["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert broker["authorizer.class.name"] == kafka.AUTHORIZER
    assert broker["super.users"] == "User:fraudstream-admin"
    assert broker["allow.everyone.if.no.acl.found"] == "false"
    controller = kafka.node_properties(s, kafka.nodes(s)[0])
    assert controller["authorizer.class.name"] == kafka.AUTHORIZER
    assert controller["sasl.enabled.mechanisms"] == "PLAIN"


def test_the_admin_credential_is_written_at_format_time(tmp_path: Path) -> None:
    s = _settings(tmp_path, kafka_admin_password="adm-pw")
    controller, broker = kafka.nodes(s)[:2]
    argv = kafka.format_argv(s, controller, "cid")
    assert "--add-scram=SCRAM-SHA-512=[name=fraudstream-admin,password=adm-pw]" in argv
    assert not any(a.startswith("--add-scram") for a in kafka.format_argv(s, broker, "cid"))


def test_config_files_are_private(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    for node in kafka.write_configs(s):
        assert node.config_file.stat().st_mode & 0o777 == 0o600


def test_scram_on_data_formatted_without_it_is_refused(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    kafka.record_security(Settings(home=tmp_path))
    with pytest.raises(PrerequisiteError, match="--purge"):
        kafka.check_security(s)
    kafka.record_security(s)
    kafka.check_security(s)


def test_a_password_that_would_break_the_jaas_line_is_refused(tmp_path: Path) -> None:
    s = _settings(tmp_path, kafka_admin_password='pw"x')
    with pytest.raises(ValueError, match="may not contain"):
        kafka.node_properties(s, kafka.nodes(s)[1])


def test_each_role_logs_in_as_itself(tmp_path: Path) -> None:
    s = _settings(tmp_path, kafka_job_password="job-pw")
    users = {role: s.kafka_client_config(role)["sasl.username"] for role in acls_roles()}
    assert len(set(users.values())) == 4
    config = s.kafka_client_config("dashboard")
    assert config["security.protocol"] == "SASL_PLAINTEXT"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    with pytest.raises(ValueError, match="unknown Kafka role"):
        s.kafka_client_config("root")
    props = pipeline.kafka_properties(s)
    assert props["properties.security.protocol"] == "SASL_PLAINTEXT"
    jaas = props["properties.sasl.jaas.config"]
    assert 'username="fraudstream-job" password="job-pw"' in jaas
    # The SQL connector relocates the Kafka client; the module is named under it.
    assert jaas.startswith(
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule "
    )


def acls_roles() -> tuple[str, ...]:
    return ("admin", "producer", "job", "dashboard")


def _allowed(s: Settings, role: str) -> set[tuple[ResourceType, str, AclOperation]]:
    return {(r.resource, r.name, r.operation) for r in acls.rules(s) if r.role == role}


def test_acls_give_each_role_only_its_job(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    producer = _allowed(s, "producer")
    assert (topic, "transactions", AclOperation.WRITE) in producer
    assert not any(op == AclOperation.READ for _, _, op in producer)
    assert not any(name == "fraud-alerts" for _, name, _ in producer)
    job = _allowed(s, "job")
    assert (topic, "transactions", AclOperation.READ) in job
    assert (group, "fraudstream-detection", AclOperation.READ) in job
    assert {
        (topic, "fraud-alerts", AclOperation.WRITE),
        (topic, "transactions-dlq", AclOperation.WRITE),
    } <= job
    assert (topic, "transactions", AclOperation.WRITE) not in job
    dashboard = _allowed(s, "dashboard")
    assert dashboard == {
        (topic, "fraud-alerts", AclOperation.READ),
        (group, "fraudstream-dashboard", AclOperation.READ),
    }
    assert not _allowed(s, "admin")  # a super user: needs no ACL
    prefixed = [r for r in acls.rules(s) if r.pattern == ResourcePatternType.PREFIXED]
    assert [(r.role, r.name) for r in prefixed] == [("dashboard", "fraudstream-dashboard")]
    assert all(b.principal.startswith("User:fraudstream-") for b in acls.bindings(s))
