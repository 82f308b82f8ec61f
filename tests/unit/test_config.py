from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.config import Settings, env_for


def test_defaults_match_the_design() -> None:
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
    assert s.controller_address == "127.0.0.1:19093"
    assert s.flink_rest == "http://127.0.0.1:8081"
    assert s.dsn.startswith("postgresql://fraudstream:")
    assert (s.topic_transactions, s.topic_alerts, s.topic_dlq) == (
        "transactions",
        "fraud-alerts",
        "transactions-dlq",
    )
    assert (s.topic_partitions, s.topic_replication, s.topic_min_isr) == (3, 3, 2)
    assert s.kafka_local and s.flink_local and s.postgres_local


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BROKER_PORTS", "19092, 19093,19094")
    monkeypatch.setenv("FRAUDSTREAM_FLINK_REST_PORT", "18081")
    s = Settings()
    assert s.kafka_broker_ports == [19092, 19093, 19094]
    assert s.flink_rest == "http://127.0.0.1:18081"


def test_json_list_of_ports_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BROKER_PORTS", "[1, 2, 3]")
    assert Settings().kafka_broker_ports == [1, 2, 3]


def test_external_services_by_configuration_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BOOTSTRAP", "kafka-1.example:9092")
    monkeypatch.setenv("FRAUDSTREAM_FLINK_REST_URL", "http://flink.example:8081/")
    monkeypatch.setenv("FRAUDSTREAM_POSTGRES_DSN", "postgresql://u:secret@db.example:5432/fs")
    s = Settings()
    assert s.bootstrap_servers == "kafka-1.example:9092"
    assert s.flink_rest == "http://flink.example:8081"
    assert s.dsn == "postgresql://u:secret@db.example:5432/fs"
    assert not (s.kafka_local or s.flink_local or s.postgres_local)


def test_password_is_redacted_for_display() -> None:
    s = Settings(postgres_password="hunter2")
    assert "hunter2" in s.dsn
    assert "hunter2" not in s.dsn_redacted
    assert "hunter2" not in repr(s)


def test_env_for_round_trips(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, kafka_broker_ports=[1, 2, 3], postgres_password="pw")
    env = env_for(s)
    assert env["FRAUDSTREAM_KAFKA_BROKER_PORTS"] == "1,2,3"
    assert env["FRAUDSTREAM_POSTGRES_PASSWORD"] == "pw"
    assert env["FRAUDSTREAM_HOME"] == str(tmp_path.resolve())


def test_sasl_settings_reach_the_client_config() -> None:
    s = Settings(
        kafka_bootstrap="b:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    config = s.kafka_client_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "p"
