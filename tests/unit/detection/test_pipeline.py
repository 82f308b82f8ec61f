"""The job's SQL connectors, inserts and configuration, as text: no services,
no Flink cluster (``build`` runs against a recording stand-in)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from pydantic import SecretStr

import fraudstream
from fraudstream.config import Settings, load_settings
from fraudstream.detection import job, pipeline
from fraudstream.detection.rules import load_catalogue, parse_catalogue

PASSWORD = "s3cret-pw"
JOB_PASSWORD = "j0b-pw"
TOKEN_KEY = "token-key-xyz"


# Where `make jvm` put the connector jars: read at collection, before each
# test's settings are isolated, so FRAUDSTREAM_JVM_DIR (or FRAUDSTREAM_HOME)
# counts as it did for `fraudstream jvm fetch`; else the repository's default.
FETCHED_JARS = (
    load_settings().jvm_home,
    Path(__file__).resolve().parents[3] / ".fraudstream" / "jvm",
)


def _settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "topic_transactions": "tx-in",
        "topic_alerts": "alerts-out",
        "topic_dlq": "dlq-out",
        "kafka_broker_ports": [19001, 19002],
        "postgres_port": 15432,
        "postgres_password": SecretStr(PASSWORD),
        "postgres_job_password": SecretStr(JOB_PASSWORD),
        "card_token_key": SecretStr(TOKEN_KEY),
        "detection_checkpoint_interval_ms": 7000,
        "home": Path("/tmp/fraudstream-unit"),
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


def all_sql(settings: Settings) -> str:
    return "\n".join(
        [
            pipeline.source_ddl(settings),
            *pipeline.sink_ddl(settings),
            *pipeline.inserts(settings, "v", "r", "a"),
        ]
    )


def test_source_reads_raw_records_from_committed_offsets() -> None:
    source = pipeline.source_ddl(_settings(detection_group_id="grp-1"))
    assert f"CREATE TEMPORARY TABLE {pipeline.SOURCE}" in source
    assert "'topic' = 'tx-in'" in source
    assert "'properties.bootstrap.servers' = '127.0.0.1:19001,127.0.0.1:19002'" in source
    assert "'scan.startup.mode' = 'group-offsets'" in source
    assert "'properties.auto.offset.reset' = 'earliest'" in source
    assert "'properties.group.id' = 'grp-1'" in source
    assert "'properties.isolation.level' = 'read_committed'" in source
    assert "'format' = 'raw'" in source
    for metadata in ("partition", "offset", "timestamp"):
        assert f"METADATA FROM '{metadata}'" in source
    # Rules run on arrival in the keyed operators: nothing waits for a watermark.
    assert "WATERMARK" not in source.upper()


def test_detection_sinks_are_kafka_only_and_at_least_once() -> None:
    """Nothing in the job writes to PostgreSQL: a database outage cannot fail it."""
    statements = pipeline.sink_ddl(_settings(topic_valid="valid-out"))
    assert len(statements) == 3
    text = "\n".join(statements)
    for table in ("alerts_kafka", "dlq_kafka", "valid_kafka"):
        assert f"CREATE TEMPORARY TABLE {table} (" in text
    assert "jdbc" not in text and PASSWORD not in text
    assert text.count("'sink.delivery-guarantee' = 'at-least-once'") == 3
    assert "'topic' = 'alerts-out'" in text and "'topic' = 'dlq-out'" in text
    assert "'topic' = 'valid-out'" in text and "'key.fields' = 'transaction_id'" in text
    for default in ("fraud-alerts", "transactions-dlq", "transactions-valid", ":9092"):
        assert default not in text


def test_inserts_feed_every_sink_from_the_operator_views() -> None:
    inserts = pipeline.inserts(_settings(), "tx_valid", "tx_rejected", "alerts_out")
    targets = [s.split()[2] for s in inserts]
    assert targets == ["valid_kafka", "dlq_kafka", "alerts_kafka"]
    assert inserts[0].endswith("FROM tx_valid")
    assert inserts[1].endswith("FROM tx_rejected")
    assert inserts[2] == "INSERT INTO alerts_kafka SELECT alert_id, json FROM alerts_out"
    # PostgreSQL text cannot hold NUL: free text is cleaned before it travels.
    assert "REPLACE(merchant, CHR(0), '')" in inserts[0]
    # The source topic is a literal in the DLQ JSON.
    assert "KEY 'source_topic' VALUE 'tx-in'" in inserts[1]


def test_sql_never_holds_the_card_number_or_token_key() -> None:
    text = all_sql(_settings())
    assert "card_number" not in text
    assert TOKEN_KEY not in text


def test_db_password_nowhere_in_the_job() -> None:
    # PostgreSQL is the archive writer's business: the job's SQL never
    # carries its password.
    settings = _settings()
    assert PASSWORD not in all_sql(settings)
    assert JOB_PASSWORD not in all_sql(settings)


def test_quote_escapes_single_quotes() -> None:
    assert pipeline.quote("it's") == "'it''s'"
    ddl = pipeline.source_ddl(_settings(topic_transactions="o'topic"))
    assert "'topic' = 'o''topic'" in ddl


def test_kafka_sasl_properties() -> None:
    plain = pipeline.kafka_properties(
        _settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="u",
            kafka_sasl_password=SecretStr("kpw"),
        )
    )
    assert plain["properties.security.protocol"] == "SASL_SSL"
    assert plain["properties.sasl.mechanism"] == "PLAIN"
    assert plain["properties.sasl.jaas.config"] == (
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.plain.PlainLoginModule "
        "required "
        'username="u" password="kpw";'
    )
    scram = pipeline.kafka_properties(
        _settings(
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="u",
            kafka_sasl_password=SecretStr("kpw"),
        )
    )
    assert "ScramLoginModule" in scram["properties.sasl.jaas.config"]
    assert "properties.sasl.jaas.config" not in pipeline.kafka_properties(
        _settings(kafka_sasl_mechanism="PLAIN")
    )


def test_job_config() -> None:
    config = pipeline.job_config(_settings(detection_job_name="det-x", flink_parallelism=2))
    assert config["pipeline.name"] == "det-x"
    assert config["parallelism.default"] == "2"
    assert config["execution.checkpointing.interval"] == "7000 ms"
    assert config["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert config["table.local-time-zone"] == "UTC"
    assert config["python.execution-mode"] == "thread"
    assert config["python.executable"] == sys.executable
    assert config["python.client.executable"] == sys.executable
    assert config["python.pythonpath"] == pipeline.python_path()
    # Dropping state is a per-submission choice (job.submit), never the default.
    assert not any("ignore-unclaimed-state" in key for key in config)
    assert not any("state-recovery" in key for key in config)
    assert pipeline.job_config(_settings(detection_parallelism=1))["parallelism.default"] == "1"


def test_python_path_finds_this_package() -> None:
    entries = pipeline.python_path().split(":")
    assert len(entries) == 2
    root = Path(entries[1])
    assert (root / "fraudstream" / "__init__.py").is_file()
    assert root == Path(fraudstream.__file__).resolve().parent.parent


CARD_ONLY = {"rules": [{"id": "h", "type": "high_amount"}]}


@pytest.mark.parametrize("scoped", [False, True])
def test_build_declares_the_job(scoped: bool) -> None:
    """The real graph, planned in-process: one validating operator, the card
    and user rules in one operator keyed (by user) in the JVM, the merchant
    rules (keyed in the JVM too) only with a rule of their scope."""
    pytest.importorskip("pyflink")
    from fraudstream.platform import flinkclient, jvm

    # Planning needs the connector jars (`make jvm`, which `make test` runs first).
    jars = next((d for d in FETCHED_JARS if jvm.connector_jars(d)), None)
    if jars is None:
        pytest.skip("connector jars not fetched: run `make jvm`")
    settings = _settings(jvm_dir=jars)
    env, t_env = flinkclient.stream_env(
        settings, remote=False, config=pipeline.job_config(settings)
    )
    catalogue = load_catalogue(packs=["seed-baseline"]) if scoped else parse_catalogue(CARD_ONLY)
    statements = pipeline.build(settings, catalogue, t_env)
    statements.attach_as_datastream()
    plan = env.get_execution_plan()
    nodes = [n["contents"] for n in json.loads(plan)["nodes"]]
    assert sum("validate" in n for n in nodes) == 1
    assert sum("card and user rules" in n for n in nodes) == 1
    assert sum("merchant rules" in n for n in nodes) == (1 if scoped else 0)
    # Keyed on the keys Validate emits: no Python key-extraction step.
    assert not any("_stream_key_by_map_operator" in n for n in nodes)
    # The token key reaches the validating operator only, never the plan's text.
    assert TOKEN_KEY not in plan
    # Keyed by transaction id in the JVM (for de-duplication), then by user.
    assert sum("JSON_VALUE" in n for n in nodes) >= 1
    # One validating subtask keeps each partition's records in order.
    validate = [n for n in json.loads(plan)["nodes"] if n["contents"] == "validate"]
    assert [n["parallelism"] for n in validate] == [1]


def test_build_rejects_a_bad_catalogue_before_touching_flink() -> None:
    pytest.importorskip("pyflink")
    catalogue = parse_catalogue({"rules": [{"id": "a", "type": "high_amount"}]})
    broken = catalogue.model_copy(
        update={"rules": (catalogue.rules[0].model_copy(update={"type": "teleport"}),)}
    )
    t_env = MagicMock(name="t_env")
    with pytest.raises(KeyError, match="teleport"):
        pipeline.build(_settings(), broken, t_env)
    t_env.execute_sql.assert_not_called()


def test_savepoint_is_remembered_per_job_name(tmp_path: Path) -> None:
    settings = _settings(home=tmp_path, detection_job_name="det-y")
    assert job.latest_savepoint(settings) is None
    job.remember_savepoint(settings, "file:/sp/savepoint-1")
    assert job.latest_savepoint(settings) == "file:/sp/savepoint-1"
    assert job.latest_savepoint(_settings(home=tmp_path)) is None


def test_a_refused_restore_names_the_operator_and_the_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace = (
        "java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint "
        "file:/sp/savepoint-1. Cannot map checkpoint/savepoint state for operator "
        "a1b2c3 to the new program, because the operator is not available in the new "
        "program. If you want to allow to skip this, you can set the --allowNonRestoredState "
        "option on the CLI.\n\tat org.apache.flink..."
    )
    monkeypatch.setattr(
        job,
        "_get",
        lambda settings, path, params=None: {
            "exceptionHistory": {"entries": [{"stacktrace": trace}]}
        },
    )
    message = job._failure(_settings(), "job-1")
    assert "operator a1b2c3" in message
    assert "--allow-dropped-state" in message
    assert "would drop it" in message


def test_other_failures_are_reported_by_their_first_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        job,
        "_get",
        lambda settings, path, params=None: {
            "exceptionHistory": {"entries": [{"stacktrace": "boom: the cause\n\tat x"}]}
        },
    )
    assert job._failure(_settings(), "job-1") == ": boom: the cause"


def test_resume_point_is_the_newer_of_savepoint_and_retained_checkpoint(tmp_path: Path) -> None:
    import os

    from fraudstream.platform import flink

    settings = _settings(home=tmp_path, detection_job_name="det-r")
    assert job.resume_point(settings) is None
    job.remember_savepoint(settings, "file:/sp/savepoint-1")
    os.utime(job.state_file(settings), (1000, 1000))
    point = job.resume_point(settings)
    assert point is not None and (point.kind, point.location) == (
        "savepoint",
        "file:/sp/savepoint-1",
    )
    # The job submitted after it retained checkpoints: the newest one wins.
    job.remember_job(settings, "abc123")
    for n, stamp in ((3, 2000), (4, 3000)):
        chk = flink.checkpoint_dir(settings) / "abc123" / f"chk-{n}"
        chk.mkdir(parents=True)
        (chk / "_metadata").write_bytes(b"x")
        os.utime(chk / "_metadata", (stamp, stamp))
    point = job.resume_point(settings)
    assert point is not None and point.kind == "checkpoint"
    assert point.location.endswith("/abc123/chk-4")
    # A later savepoint (a `job stop`) is newer again.
    os.utime(job.state_file(settings), (4000, 4000))
    point = job.resume_point(settings)
    assert point is not None and point.kind == "savepoint"
