"""The job's SQL and configuration, as text: no services needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from fraudstream.config import Settings
from fraudstream.detection import job, pipeline, validation
from fraudstream.detection.rules import parse_catalogue

CATALOGUE = parse_catalogue(
    {"rules": [{"id": "big", "type": "high_amount", "params": {"threshold": 100}}]}
)


def _settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "topic_transactions": "tx-in",
        "topic_alerts": "alerts-out",
        "topic_dlq": "dlq-out",
        "kafka_broker_ports": [19001, 19002],
        "postgres_port": 15432,
        "postgres_password": SecretStr("s3cret"),
        "card_token_key": SecretStr("token-key"),
        "detection_watermark_ms": 250,
        "detection_checkpoint_interval_ms": 7000,
        "home": Path("/tmp/fraudstream-unit"),
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def test_topics_and_addresses_come_from_settings() -> None:
    sql = pipeline.build(_settings(), CATALOGUE)
    text = "\n".join(str(s) for s in sql.setup)
    assert "'topic' = 'tx-in'" in text
    assert "'topic' = 'alerts-out'" in text
    assert "'topic' = 'dlq-out'" in text
    assert "127.0.0.1:19001,127.0.0.1:19002" in text
    assert "jdbc:postgresql://127.0.0.1:15432/fraudstream?stringtype=unspecified" in text
    assert "'password' = 's3cret'" in text
    for default in ("fraud-alerts", "transactions-dlq", ":9092", ":5432"):
        assert default not in text
    assert "'topic' = 'transactions'" not in text


def test_source_starts_from_committed_offsets_else_earliest() -> None:
    source = pipeline.source_ddl(_settings(detection_group_id="grp-1"))
    assert "'scan.startup.mode' = 'group-offsets'" in source
    assert "'properties.auto.offset.reset' = 'earliest'" in source
    assert "'properties.group.id' = 'grp-1'" in source
    assert "'format' = 'raw'" in source
    assert "WATERMARK FOR event_time AS event_time - INTERVAL '0.250' SECOND" in source
    assert "METADATA FROM 'offset'" in source


def test_sinks_are_upserts_and_at_least_once() -> None:
    sql = pipeline.build(_settings(), CATALOGUE)
    text = "\n".join(str(s) for s in sql.setup)
    assert "PRIMARY KEY (transaction_id) NOT ENFORCED" in text
    assert "PRIMARY KEY (alert_id) NOT ENFORCED" in text
    assert "PRIMARY KEY (source_topic, source_partition, source_offset) NOT ENFORCED" in text
    assert text.count("'sink.delivery-guarantee' = 'at-least-once'") == 2
    assert len(sql.inserts) == 5
    alerts_view = next(
        s for s in sql.setup if isinstance(s, pipeline.View) and s.name == pipeline.ALERTS
    )
    assert "MD5(CONCAT(rule_id, ':', transaction_id)) AS alert_id" in alerts_view.query


def test_card_number_reaches_no_sink() -> None:
    sql = pipeline.build(_settings(), CATALOGUE)
    for insert in sql.inserts:
        assert "card_number" not in insert
    valid = validation.valid_sql("f", "k")
    aliases = re.findall(r" AS (\w+),?\n", valid.split("FROM")[0])
    assert "card_number" not in aliases and "card_masked" in aliases
    assert "card_number" not in pipeline.RULES_VIEW_COLUMNS


def test_job_config() -> None:
    config = pipeline.job_config(_settings(detection_job_name="det-x", flink_parallelism=2))
    assert config["pipeline.name"] == "det-x"
    assert config["parallelism.default"] == "2"
    assert config["execution.checkpointing.interval"] == "7000 ms"
    assert config["table.local-time-zone"] == "UTC"
    assert config["table.optimizer.reuse-optimize-block-with-digest-enabled"] == "true"
    assert pipeline.job_config(_settings(detection_parallelism=1))["parallelism.default"] == "1"


def test_jdbc_connection_from_an_external_dsn() -> None:
    settings = _settings(
        postgres_dsn=SecretStr("postgresql://u:p%40ss@db.example:6000/arch?sslmode=require")
    )
    conn = pipeline.jdbc_connection(settings)
    assert (
        conn["url"]
        == "jdbc:postgresql://db.example:6000/arch?sslmode=require&stringtype=unspecified"
    )
    assert conn["username"] == "u"


@pytest.mark.parametrize(
    ("length", "number", "valid"),
    [
        (16, "4111111111111111", True),
        (16, "4111111111111112", False),
        (15, "378282246310005", True),
    ],
)
def test_luhn_expression_shape(length: int, number: str, valid: bool) -> None:
    # The SQL doubles every second digit from the right via a lookup string;
    # evaluate the same arithmetic in Python to check the positions chosen.
    expr = validation.luhn_expr("c", length)
    doubled = {pos for pos in range(1, length + 1) if f"SUBSTR(c, {pos}, 1) AS INT) + 1" in expr}
    total = 0
    for pos, char in enumerate(number, start=1):
        digit = int(char)
        total += int("0246813579"[digit]) if pos in doubled else digit
    assert (total % 10 == 0) is valid


def test_savepoint_is_remembered_per_job_name(tmp_path: Path) -> None:
    settings = _settings(home=tmp_path, detection_job_name="det-y")
    assert job.latest_savepoint(settings) is None
    job.remember_savepoint(settings, "file:/sp/savepoint-1")
    assert job.latest_savepoint(settings) == "file:/sp/savepoint-1"
    assert job.latest_savepoint(_settings(home=tmp_path)) is None
