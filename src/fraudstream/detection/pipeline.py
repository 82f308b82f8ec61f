"""The detection job: a Kafka source, the Python operators and three Kafka sinks.

    transactions ─ by tx id ─ Validate ─┬─ first ─┬─ transactions-valid (Kafka)
     (Kafka, raw)   (JVM)                │         ├─ by user ─ Profiles ──────────┬─ fraud-alerts
                                         │         │  (card and user rules)        │
                                         │         └─ by merchant ─ MerchantRules ─┘
                                         │   (merchant: only with rules of that scope,
                                         │    only the transactions they admit)
                                         └─ rejected ─ transactions-dlq (Kafka)

Nothing in the job writes to PostgreSQL: ``fraudstream archive``
(``archive/writer.py``) stores the three topics there, in its own process, so
a database outage cannot stop detection. Each record is parsed, validated and
de-duplicated once, in ``Validate``; the archive stores that one verdict.
Card and user rules run in one operator keyed by user id (a card belongs to
one user, so its transactions stay in order), merchant rules in one keyed by
merchant; each evaluates a transaction as it arrives: no operator waits for
a watermark.

The graph's shape depends on the catalogue only in whether the merchant
operator exists (the rules travel inside the operators), so a catalogue
change restores every operator's state.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from typing import Any, Final

from fraudstream.config import Settings
from fraudstream.detection.engine.tx import FIELDS
from fraudstream.detection.rules import Catalogue

SOURCE: Final = "tx_source"
ISO_UTC: Final = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"
VALIDATE_UID: Final = "validate"
PROFILES_UID: Final = "profiles"
"""The card and user rules' operator (keyed by user id); before it, two
operators held its state: ``card-profiles`` (keyed by card) and
``user-profiles``."""
# flink-sql-connector-kafka relocates the Kafka client: a JAAS line must name
# the login module under this prefix ("No LoginModule found" otherwise).
KAFKA_SHADED: Final = "org.apache.flink.kafka.shaded."
MERCHANT_RULES_UID: Final = "merchant-profiles"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"{quote(k)} = {quote(v)}" for k, v in options.items())


def kafka_properties(settings: Settings) -> dict[str, str]:
    """Connection properties of the Java Kafka clients inside the job (its own
    SCRAM identity when the local stack runs with ``kafka_security=scram``)."""
    client = settings.kafka_client_config("job")
    props = {
        "properties.bootstrap.servers": client["bootstrap.servers"],
        "properties.security.protocol": client["security.protocol"],
    }
    mechanism = client.get("sasl.mechanism")
    if mechanism:
        props["properties.sasl.mechanism"] = mechanism
        username, password = client.get("sasl.username"), client.get("sasl.password")
        if username and password is not None:
            module = KAFKA_SHADED + (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            props["properties.sasl.jaas.config"] = (
                f'{module} required username="{_jaas(username)}" password="{_jaas(password)}";'
            )
    return props


def _jaas(value: str) -> str:
    """A JAAS option value inside double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


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


TX_COLUMNS: Final = (
    "transaction_id STRING, bank_id STRING, payment_system STRING, card_masked STRING, "
    "card_token STRING, user_id BIGINT, amount DECIMAL(14, 2), currency STRING, "
    "merchant STRING, country STRING, event_time STRING, "
    "merchant_category STRING, channel STRING, ingested_at STRING, quality_flags STRING"
)


def valid_sink_ddl(settings: Settings) -> str:
    """The validated transactions (archive columns, JSON; key = transaction id)."""
    options = {
        "connector": "kafka",
        "topic": settings.topic_valid,
        **kafka_properties(settings),
        "key.format": "raw",
        "key.fields": "transaction_id",
        "value.format": "json",
        "value.fields-include": "ALL",
        "sink.delivery-guarantee": "at-least-once",
        "properties.acks": "all",
        "properties.enable.idempotence": "true",
        "properties.linger.ms": "5",
    }
    return f"""
CREATE TEMPORARY TABLE valid_kafka (
  {TX_COLUMNS}
) WITH (
  {_with(options)}
)"""


def sink_ddl(settings: Settings) -> list[str]:
    """The detection job's three sinks, all Kafka: alerts, DLQ, validated transactions."""
    return [
        kafka_sink_ddl("alerts_kafka", settings.topic_alerts, settings),
        kafka_sink_ddl("dlq_kafka", settings.topic_dlq, settings),
        valid_sink_ddl(settings),
    ]


def inserts(settings: Settings, valid: str, rejected: str, alerts: str) -> list[str]:
    """INSERT statements of the detection job from the three views its Python operators feed."""
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
        "INSERT INTO valid_kafka SELECT transaction_id, bank_id, payment_system, "
        "card_masked, card_token, user_id, CAST(amount AS DECIMAL(14, 2)), currency, "
        f"{_no_nul('merchant')}, country, {_iso('event_ms')}, "
        f"{_no_nul('merchant_category')}, {_no_nul('channel')}, {_iso('ingested_ms')}, flags "
        f"FROM {valid}",
        "INSERT INTO dlq_kafka SELECT "
        "CONCAT(CAST(source_partition AS STRING), ':', CAST(source_offset AS STRING)), "
        f"{dlq_json} FROM {rejected}",
        f"INSERT INTO alerts_kafka SELECT alert_id, json FROM {alerts}",
    ]


def build(settings: Settings, catalogue: Catalogue, t_env: Any) -> Any:
    """Declare the detection job on ``t_env`` (a StreamTableEnvironment); return
    the statement set that holds its sinks (``attach_as_datastream`` submits it)."""
    from pyflink.common import Types

    from fraudstream.detection import operators
    from fraudstream.detection.engine.engine import Engine

    engine = Engine(catalogue)  # fails here, in the client, on a bad catalogue
    t_env.execute_sql(source_ddl(settings))
    for ddl in sink_ddl(settings):
        t_env.execute_sql(ddl)
    # The JVM reads the transaction id out of the JSON to key the stream by it
    # (NULL on a payload that is not JSON, or has no id: those get their offset
    # as key, only to be spread over the subtasks; Validate rejects them).
    # A typed (RowTypeInfo) stream: the keyed Python operator needs one, and
    # to_data_stream's external type is not.
    raw = t_env.to_append_stream(
        t_env.sql_query(
            "SELECT COALESCE(JSON_VALUE(CAST(payload AS STRING), '$.transaction_id'), "
            "CONCAT('@', CAST(kafka_offset AS STRING))) AS tid, "
            f"ROW(payload, kafka_partition, kafka_offset, {_epoch_ms('kafka_ts')}) AS rec "
            f"FROM {SOURCE}"
        ),
        Types.ROW([Types.STRING(), operators.SOURCE_ROW]),
    )
    python_parallelism = settings.detection_python_parallelism or job_parallelism(settings)
    key = settings.card_token_secret()  # refuses the development key outside development
    dedupe_s = int(settings.detection_dedupe_hours * 3600)
    # One Validate subtask: the exchange by transaction id would otherwise
    # spread a card's records over several subtasks, and they could reach the
    # card rules out of order. With one, each source partition's records stay
    # in order through it. Not a bottleneck: all Python operators of a
    # TaskManager share one interpreter (docs/DETECTION.md).
    rules = catalogue.model_dump(mode="json")
    checked = (
        _by_field0(raw, operators.SOURCE_ROW)
        .process(
            operators.Validate(key, dedupe_s, settings.max_amount, rules),
            output_type=operators.KEYED_TX_ROW,
        )
        .uid(VALIDATE_UID)
        .name("validate")
        .set_parallelism(1)
    )
    alerts = (
        _by_field0(checked, operators.TX_ROW, Types.LONG())
        .process(operators.Profiles(rules, settings.job_dsn), output_type=operators.ALERT_ROW)
        .uid(PROFILES_UID)
        .name("card and user rules")
        .set_parallelism(python_parallelism)
    )
    # Every job declares the same side outputs of Validate, whatever its
    # catalogue: the TaskManager's one Python interpreter outlives a job, and
    # a job declaring another set of side outputs after it lost its rejected
    # records (seen in the integration tests: no DLQ record after a job with
    # merchant rules had run on the same TaskManager).
    by_merchant = checked.get_side_output(operators.BY_MERCHANT)
    if engine.has_merchant_rules:
        merchants = (
            _by_field0(by_merchant, operators.TX_ROW)
            .process(
                operators.MerchantRules(rules, settings.job_dsn), output_type=operators.ALERT_ROW
            )
            .uid(MERCHANT_RULES_UID)
            .name("merchant rules")
            .set_parallelism(python_parallelism)
        )
        alerts = alerts.union(merchants)
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


def _by_field0(stream: Any, value_type: Any, key_type: Any = None) -> Any:
    """``stream`` of (key, value) rows keyed by field 0 (a string unless
    ``key_type`` says otherwise: the user id Validate emits), in the JVM.

    ``DataStream.key_by`` would run a Python function per record to pull the
    key out (PyFlink's AddKey step); the source query and Validate already
    emit (key, value), the shape that step produces, so the JVM's own
    selector of field 0 does.
    """
    from pyflink.common import Types
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway

    selector = get_gateway().jvm.KeyByKeySelector()
    j_keyed = stream._j_data_stream.keyBy(
        selector, Types.ROW([key_type or Types.STRING()]).get_java_type_info()
    )
    return KeyedStream(j_keyed, value_type, stream)


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
        # A record crosses two keyed exchanges (by transaction id, by user);
        # a network buffer that is not full waits this long before it is
        # sent (Flink's default: 100 ms, which showed in the alert latency).
        "execution.buffer-timeout.interval": "10 ms",
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
