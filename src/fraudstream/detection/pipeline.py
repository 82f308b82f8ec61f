"""The detection job: a Kafka source, two Python operators and the sinks.

    transactions (Kafka) ─ Validate ─┬─ valid ─┬─ archive (PostgreSQL transactions)
                                     │         ├─ by card ─ CardRules ─┬─ alerts ─┬─ fraud-alerts
                                     │         ├─ by user ─ UserRules ─┤          └─ PostgreSQL
                                     │         └─ by merchant ─ Merch.─┘
                                     │       (user, merchant: only with rules of that scope)
                                     └─ rejected ─┬─ transactions-dlq (Kafka)
                                                  └─ PostgreSQL rejected_records

Each record is parsed and validated once, in ``Validate``; the archive and
the rejected branch read its verdict. Rules run in one keyed operator per
scope (card, user) on each transaction as it arrives: no operator waits for a
watermark. The source and sinks are Flink SQL connectors (the JVM does the
Kafka and JDBC I/O); ``operators.py`` holds the Python side.

The graph's shape does not depend on the catalogue (it travels inside the
rule operators), so a catalogue change restores every operator's state.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fraudstream.config import Settings
from fraudstream.detection.engine.tx import FIELDS
from fraudstream.detection.rules import Catalogue

SOURCE: Final = "tx_source"
ISO_UTC: Final = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"
VALIDATE_UID: Final = "validate"
CARD_RULES_UID: Final = "card-profiles"
USER_RULES_UID: Final = "user-profiles"
MERCHANT_RULES_UID: Final = "merchant-profiles"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"{quote(k)} = {quote(v)}" for k, v in options.items())


def kafka_properties(settings: Settings) -> dict[str, str]:
    """Connection properties of the Java Kafka clients inside the job."""
    props = {
        "properties.bootstrap.servers": settings.bootstrap_servers,
        "properties.security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        props["properties.sasl.mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_username and settings.kafka_sasl_password is not None:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if settings.kafka_sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            password = settings.kafka_sasl_password.get_secret_value()
            props["properties.sasl.jaas.config"] = (
                f'{module} required username="{settings.kafka_sasl_username}" '
                f'password="{password}";'
            )
    return props


def jdbc_connection(settings: Settings) -> dict[str, str]:
    """JDBC url, user and password from the libpq DSN."""
    parts = urlsplit(settings.dsn)
    host = parts.hostname or settings.host
    port = parts.port or 5432
    query = dict(parse_qsl(parts.query))
    # Timestamps travel as ISO-8601 text (the connector has no TIMESTAMP_LTZ
    # type); untyped strings let PostgreSQL cast them to timestamptz.
    query.setdefault("stringtype", "unspecified")
    url = f"jdbc:postgresql://{host}:{port}{parts.path or '/'}"
    url += "?" + urlencode(query)
    options = {"url": url}
    if parts.username:
        options["username"] = parts.username
    if parts.password:
        options["password"] = parts.password
    return options


def kafka_sink_ddl(name: str, topic: str, settings: Settings) -> str:
    """A Kafka sink of (k, v) text: the JSON is built in SQL, so the shape is ours."""
    options = {
        "connector": "kafka",
        "topic": topic,
        **kafka_properties(settings),
        "key.format": "raw",
        "key.fields": "k",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
        # At-least-once: a record is sent as soon as it is produced (no wait
        # for the next checkpoint); replays repeat ids consumers de-duplicate.
        "sink.delivery-guarantee": "at-least-once",
        "properties.acks": "all",
        "properties.enable.idempotence": "true",
        "properties.linger.ms": "5",
    }
    return f"""
CREATE TEMPORARY TABLE {name} (k STRING, v STRING) WITH (
  {_with(options)}
)"""


def jdbc_sink_ddl(name: str, table: str, columns: str, key: str, settings: Settings) -> str:
    """An upsert sink into PostgreSQL (INSERT ... ON CONFLICT DO UPDATE on ``key``)."""
    options = {
        "connector": "jdbc",
        **jdbc_connection(settings),
        "table-name": table,
        "sink.buffer-flush.max-rows": "500",
        "sink.buffer-flush.interval": "200 ms",
        "sink.max-retries": "5",
    }
    return f"""
CREATE TEMPORARY TABLE {name} (
  {columns},
  PRIMARY KEY ({key}) NOT ENFORCED
) WITH (
  {_with(options)}
)"""


def _no_nul(column: str) -> str:
    # PostgreSQL text cannot hold NUL; a stray one must not fail the sink.
    return f"REPLACE({column}, CHR(0), '')"


def source_ddl(settings: Settings) -> str:
    options = {
        "connector": "kafka",
        "topic": settings.topic_transactions,
        **kafka_properties(settings),
        "properties.group.id": settings.detection_group_id,
        # First start: earliest. Restart from a checkpoint/savepoint: its
        # offsets. A fresh start of an existing deployment: the offsets the
        # group committed at its last checkpoint, so nothing is skipped.
        "scan.startup.mode": "group-offsets",
        "properties.auto.offset.reset": "earliest",
        "properties.isolation.level": "read_committed",
        "scan.topic-partition-discovery.interval": "60 s",
        "format": "raw",
    }
    return f"""
CREATE TEMPORARY TABLE {SOURCE} (
  payload BYTES,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL
) WITH (
  {_with(options)}
)"""


def _epoch_ms(column: str) -> str:
    return (
        f"CAST(TIMESTAMPDIFF(SECOND, TO_TIMESTAMP_LTZ(0, 3), {column}) AS BIGINT) * 1000 "
        f"+ EXTRACT(MILLISECOND FROM {column})"
    )


def _iso(ms_column: str) -> str:
    return f"DATE_FORMAT(CAST(TO_TIMESTAMP_LTZ({ms_column}, 3) AS TIMESTAMP(3)), '{ISO_UTC}')"


def sink_ddl(settings: Settings) -> list[str]:
    """The job's five sinks (archive, rejected, alerts in PostgreSQL; DLQ and alerts on Kafka)."""
    return [
        jdbc_sink_ddl(
            "transactions_pg",
            "transactions",
            "transaction_id STRING, bank_id STRING, payment_system STRING, card_masked STRING, "
            "card_token STRING, user_id BIGINT, amount DECIMAL(14, 2), currency STRING, "
            "merchant STRING, country STRING, event_time STRING, "
            "merchant_category STRING, channel STRING, ingested_at STRING, quality_flags STRING",
            "transaction_id",
            settings,
        ),
        jdbc_sink_ddl(
            "alerts_pg",
            "alerts",
            "alert_id STRING, rule_id STRING, rule_type STRING, severity STRING, score DOUBLE, "
            "reason STRING, transaction_id STRING, card_masked STRING, card_token STRING, "
            "bank_id STRING, user_id BIGINT, amount DECIMAL(14, 2), currency STRING, "
            "merchant STRING, country STRING, payment_system STRING, "
            "event_time STRING, detected_at STRING, evidence STRING, hits INT, "
            "last_transaction_id STRING, case_id STRING",
            "alert_id",
            settings,
        ),
        jdbc_sink_ddl(
            "rejected_pg",
            "rejected_records",
            "source_topic STRING, source_partition INT, source_offset BIGINT, reason STRING, "
            "detail STRING, raw_payload STRING, received_at STRING",
            "source_topic, source_partition, source_offset",
            settings,
        ),
        kafka_sink_ddl("alerts_kafka", settings.topic_alerts, settings),
        kafka_sink_ddl("dlq_kafka", settings.topic_dlq, settings),
    ]


def inserts(settings: Settings, valid: str, rejected: str, alerts: str) -> list[str]:
    """INSERT statements from the three views the Python operators feed."""
    topic = quote(settings.topic_transactions)
    dlq_json = (
        "JSON_OBJECT("
        "KEY 'reason' VALUE reason, KEY 'detail' VALUE detail, "
        "KEY 'raw_payload' VALUE raw_payload, "
        f"KEY 'source_topic' VALUE {topic}, "
        "KEY 'source_partition' VALUE source_partition, "
        "KEY 'source_offset' VALUE source_offset, "
        f"KEY 'received_at' VALUE {_iso('received_ms')} NULL ON NULL)"
    )
    return [
        "INSERT INTO transactions_pg SELECT transaction_id, bank_id, payment_system, "
        "card_masked, card_token, user_id, CAST(amount AS DECIMAL(14, 2)), currency, "
        f"{_no_nul('merchant')}, country, {_iso('event_ms')}, "
        f"{_no_nul('merchant_category')}, {_no_nul('channel')}, {_iso('ingested_ms')}, flags "
        f"FROM {valid}",
        f"INSERT INTO rejected_pg SELECT {topic}, source_partition, source_offset, reason, "
        f"detail, raw_payload, {_iso('received_ms')} FROM {rejected}",
        "INSERT INTO dlq_kafka SELECT "
        "CONCAT(CAST(source_partition AS STRING), ':', CAST(source_offset AS STRING)), "
        f"{dlq_json} FROM {rejected}",
        "INSERT INTO alerts_pg SELECT alert_id, rule_id, rule_type, severity, score, reason, "
        "transaction_id, card_masked, card_token, bank_id, user_id, "
        f"CAST(amount AS DECIMAL(14, 2)), currency, {_no_nul('merchant')}, country, "
        "payment_system, event_time, detected_at, evidence, hits, last_transaction_id, case_id "
        f"FROM {alerts}",
        f"INSERT INTO alerts_kafka SELECT alert_id, json FROM {alerts}",
    ]


def build(settings: Settings, catalogue: Catalogue, t_env: Any) -> Any:
    """Declare the whole job on ``t_env`` (a StreamTableEnvironment); return the
    statement set that holds its sinks (``attach_as_datastream`` submits it)."""
    from pyflink.common import Types

    from fraudstream.detection import operators
    from fraudstream.detection.engine.engine import Engine

    engine = Engine(catalogue)  # fails here, in the client, on a bad catalogue
    t_env.execute_sql(source_ddl(settings))
    for ddl in sink_ddl(settings):
        t_env.execute_sql(ddl)
    raw = t_env.to_data_stream(
        t_env.sql_query(
            f"SELECT payload, kafka_partition, kafka_offset, {_epoch_ms('kafka_ts')} AS kafka_ms "
            f"FROM {SOURCE}"
        )
    )
    python_parallelism = settings.detection_python_parallelism or job_parallelism(settings)
    key = settings.card_token_key.get_secret_value()
    checked = (
        raw.process(
            operators.Validate(key, engine.has_user_rules, engine.has_merchant_rules),
            output_type=operators.KEYED_TX_ROW,
        )
        .uid(VALIDATE_UID)
        .name("validate")
        .set_parallelism(python_parallelism)
    )
    rules = catalogue.model_dump(mode="json")
    alerts = (
        _by_card(checked)
        .process(operators.CardRules(rules, settings.dsn), output_type=operators.ALERT_ROW)
        .uid(CARD_RULES_UID)
        .name("card rules")
        .set_parallelism(python_parallelism)
    )
    for scope, tag, key_type, function, uid in (
        ("user", operators.BY_USER, Types.LONG(), operators.UserRules, USER_RULES_UID),
        (
            "merchant",
            operators.BY_MERCHANT,
            Types.STRING(),
            operators.MerchantRules,
            MERCHANT_RULES_UID,
        ),
    ):
        if getattr(engine, f"has_{scope}_rules"):
            scoped = (
                _by_card(checked.get_side_output(tag), key_type)
                .process(function(rules, settings.dsn), output_type=operators.ALERT_ROW)
                .uid(uid)
                .name(f"{scope} rules")
                .set_parallelism(python_parallelism)
            )
            alerts = alerts.union(scoped)
    t_env.create_temporary_view("tx_checked", t_env.from_data_stream(checked))
    fields = ", ".join(f"f1.{name} AS {name}" for name in FIELDS)
    t_env.create_temporary_view("tx_valid", t_env.sql_query(f"SELECT {fields} FROM tx_checked"))
    t_env.create_temporary_view(
        "tx_rejected", t_env.from_data_stream(checked.get_side_output(operators.REJECTED))
    )
    t_env.create_temporary_view("alerts_out", t_env.from_data_stream(alerts))
    statements = t_env.create_statement_set()
    for insert in inserts(settings, "tx_valid", "tx_rejected", "alerts_out"):
        statements.add_insert_sql(insert)
    return statements


def _by_card(checked: Any, key_type: Any = None) -> Any:
    """``checked`` keyed by its field 0 (the card token; the user id or the
    merchant on the side outputs), in the JVM.

    ``DataStream.key_by`` would run a Python function per record to pull the
    key out (PyFlink's AddKey step); Validate already emits (key, value), the
    shape that step produces, so the JVM's own selector of field 0 does.
    """
    from pyflink.common import Types
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway

    from fraudstream.detection import operators

    selector = get_gateway().jvm.KeyByKeySelector()
    j_keyed = checked._j_data_stream.keyBy(
        selector, Types.ROW([key_type or Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, operators.TX_ROW, checked)


def job_parallelism(settings: Settings) -> int:
    return settings.detection_parallelism or settings.flink_parallelism


def python_path() -> str:
    """Where the TaskManager's embedded interpreter finds pemja, PyFlink and us."""
    import fraudstream

    package_root = Path(fraudstream.__file__).resolve().parent.parent
    return ":".join([sysconfig.get_paths()["purelib"], str(package_root)])


def job_config(settings: Settings) -> dict[str, str]:
    """Flink configuration of the job (checkpoints, state, restarts, Python)."""
    return {
        "pipeline.name": settings.detection_job_name,
        "parallelism.default": str(job_parallelism(settings)),
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": f"{settings.detection_checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.tolerable-failed-checkpoints": "3",
        "state.backend.type": settings.detection_state_backend,
        "pipeline.object-reuse": "true",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "30 s",
        # Python runs inside the TaskManager's JVM (pemja), not in a separate
        # worker process: per-record calls and state access cost microseconds
        # instead of a round trip (measured ~10x, see docs/DETECTION.md).
        "python.execution-mode": "thread",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.pythonpath": python_path(),
    }
