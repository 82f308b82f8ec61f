"""The detection job as SQL: source, validation, archive, DLQ, rules and alert sinks.

One statement set, so the planner shares the source and the parsed records
between every sink:

    transactions (Kafka, raw) ─ validation ─┬─ valid ─┬─ archive (PostgreSQL transactions)
                                            │         └─ rules ─ alerts ─┬─ fraud-alerts (Kafka)
                                            │                            └─ PostgreSQL alerts
                                            └─ invalid ─┬─ transactions-dlq (Kafka)
                                                        └─ PostgreSQL rejected_records

Everything here is text; ``job.py`` runs it. The SQL holds the card token key
and the database password, so it is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fraudstream.config import Settings
from fraudstream.detection import validation
from fraudstream.detection.rules import ALERT_COLUMNS, Catalogue, alerts_sql, ddl
from fraudstream.detection.validation import quote

SOURCE: Final = "tx_source"
FIELDS: Final = "tx_fields"
VALID: Final = "tx_valid"
REJECTED: Final = "tx_rejected"
RULES_VIEW: Final = "transactions_view"
RULE_ALERTS: Final = "rule_alerts"
ALERTS: Final = "alerts_out"

RULES_VIEW_COLUMNS: Final = (
    "transaction_id",
    "bank_id",
    "payment_system",
    "card_masked",
    "card_token",
    "user_id",
    "amount",
    "currency",
    "merchant",
    "country",
    "event_time",
    "merchant_category",
    "channel",
    "proc_time",
)

ISO_UTC: Final = "yyyy-MM-dd''T''HH:mm:ss.SSS''Z''"


@dataclass(frozen=True)
class View:
    """A temporary view registered from its query as a Table, not as SQL text.

    A view created with ``CREATE VIEW`` is stored as expanded SQL text and
    parsed again wherever it is used; Flink cannot re-parse its own expansion
    of MATCH_RECOGNIZE, so views over the rules' query are registered this way.
    """

    name: str
    query: str


@dataclass(frozen=True)
class JobSql:
    """Statements (DDL text or views) to apply in order, then the INSERTs of one job."""

    setup: tuple[str | View, ...]
    inserts: tuple[str, ...]

    def apply(self, env: Any) -> None:
        """Run the setup on a TableEnvironment."""
        for statement in self.setup:
            if isinstance(statement, View):
                env.create_temporary_view(statement.name, env.sql_query(statement.query))
            else:
                env.execute_sql(statement)

    def statement_set(self, env: Any) -> Any:
        """Run the setup on ``env``; return a StatementSet holding every INSERT."""
        self.apply(env)
        statements = env.create_statement_set()
        for insert in self.inserts:
            statements.add_insert_sql(insert)
        return statements


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"{quote(k)} = {quote(v)}" for k, v in options.items())


def _seconds(ms: int) -> str:
    return f"INTERVAL '{ms / 1000:.3f}' SECOND"


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
  payload STRING,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  event_time AS {validation.rowtime_expr()},
  proc_time AS PROCTIME(),
  WATERMARK FOR event_time AS event_time - {_seconds(settings.detection_watermark_ms)}
) WITH (
  {_with(options)}
)"""


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


def _iso(column: str) -> str:
    return f"DATE_FORMAT(CAST({column} AS TIMESTAMP(3)), '{ISO_UTC}')"


def _no_nul(column: str) -> str:
    # PostgreSQL text cannot hold NUL; a stray one must not fail the sink.
    return f"REPLACE({column}, CHR(0), '')"


def build(settings: Settings, catalogue: Catalogue) -> JobSql:
    """Every statement of the detection job for ``settings`` and ``catalogue``."""
    key = settings.card_token_key.get_secret_value()
    topic = quote(settings.topic_transactions)
    setup: list[str | View] = [
        source_ddl(settings),
        View(FIELDS, validation.fields_sql(SOURCE)),
        View(VALID, validation.valid_sql(FIELDS, key)),
        View(REJECTED, validation.rejected_sql(FIELDS)),
        View(RULES_VIEW, f"SELECT {', '.join(RULES_VIEW_COLUMNS)} FROM {VALID}"),
        *ddl(catalogue, settings),
        View(RULE_ALERTS, alerts_sql(catalogue, RULES_VIEW, settings)),
        View(
            ALERTS,
            "SELECT MD5(CONCAT(rule_id, ':', transaction_id)) AS alert_id, "
            f"{', '.join(ALERT_COLUMNS)}, CURRENT_TIMESTAMP AS detected_at FROM {RULE_ALERTS}",
        ),
        jdbc_sink_ddl(
            "transactions_pg",
            "transactions",
            "transaction_id STRING, bank_id STRING, payment_system STRING, card_masked STRING, "
            "card_token STRING, user_id BIGINT, amount DECIMAL(14, 2), currency STRING, "
            "merchant STRING, country STRING, event_time STRING, "
            "merchant_category STRING, channel STRING, ingested_at STRING",
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
            "event_time STRING, detected_at STRING, evidence STRING",
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
    alert_json = (
        "JSON_OBJECT("
        "KEY 'alert_id' VALUE alert_id, KEY 'rule_id' VALUE rule_id, "
        "KEY 'rule_type' VALUE rule_type, KEY 'severity' VALUE severity, "
        "KEY 'score' VALUE score, KEY 'reason' VALUE reason, "
        "KEY 'transaction_id' VALUE transaction_id, KEY 'card_masked' VALUE card_masked, "
        "KEY 'card_token' VALUE card_token, KEY 'bank_id' VALUE bank_id, "
        "KEY 'user_id' VALUE user_id, KEY 'amount' VALUE amount, "
        "KEY 'currency' VALUE currency, KEY 'merchant' VALUE merchant, "
        "KEY 'country' VALUE country, KEY 'payment_system' VALUE payment_system, "
        f"KEY 'event_time' VALUE {_iso('event_time')}, "
        f"KEY 'detected_at' VALUE {_iso('detected_at')}, "
        "KEY 'evidence' VALUE JSON(COALESCE(evidence, '[]')) NULL ON NULL)"
    )
    dlq_json = (
        "JSON_OBJECT("
        "KEY 'reason' VALUE reason, KEY 'detail' VALUE detail, "
        "KEY 'raw_payload' VALUE raw_payload, "
        f"KEY 'source_topic' VALUE {topic}, "
        "KEY 'source_partition' VALUE source_partition, "
        "KEY 'source_offset' VALUE source_offset, "
        f"KEY 'received_at' VALUE {_iso('kafka_ts')} NULL ON NULL)"
    )
    inserts = (
        "INSERT INTO transactions_pg SELECT transaction_id, bank_id, payment_system, "
        "card_masked, card_token, user_id, CAST(amount AS DECIMAL(14, 2)), currency, "
        f"{_no_nul('merchant')}, country, {_iso('event_time')}, "
        f"{_no_nul('merchant_category')}, {_no_nul('channel')}, {_iso('kafka_ts')} FROM {VALID}",
        "INSERT INTO rejected_pg SELECT "
        f"{topic}, source_partition, source_offset, reason, detail, "
        f"{_no_nul('raw_payload')}, {_iso('kafka_ts')} FROM {REJECTED}",
        "INSERT INTO dlq_kafka SELECT "
        "CONCAT(CAST(source_partition AS STRING), ':', CAST(source_offset AS STRING)), "
        f"{dlq_json} FROM {REJECTED}",
        "INSERT INTO alerts_pg SELECT alert_id, rule_id, rule_type, severity, score, reason, "
        "transaction_id, card_masked, card_token, bank_id, user_id, "
        f"CAST(amount AS DECIMAL(14, 2)), currency, {_no_nul('merchant')}, country, "
        f"payment_system, {_iso('event_time')}, {_iso('detected_at')}, evidence FROM {ALERTS}",
        f"INSERT INTO alerts_kafka SELECT alert_id, {alert_json} FROM {ALERTS}",
    )
    return JobSql(setup=tuple(setup), inserts=inserts)


def job_config(settings: Settings) -> dict[str, str]:
    """Flink configuration of the job (checkpoints, watermarks, restarts)."""
    parallelism = settings.detection_parallelism or settings.flink_parallelism
    return {
        "pipeline.name": settings.detection_job_name,
        "parallelism.default": str(parallelism),
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": f"{settings.detection_checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.tolerable-failed-checkpoints": "3",
        "pipeline.auto-watermark-interval": f"{settings.detection_watermark_interval_ms} ms",
        "table.exec.source.idle-timeout": f"{settings.detection_idle_timeout_ms} ms",
        # Views shared by several sinks (the validated records, the alerts)
        # become optimisation blocks of their own, computed once per record;
        # otherwise every sink's Calc re-parses and re-validates the payload,
        # and the two alert sinks would see different detected_at values.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
        # Operator uids come from the compiled plan's node ids (job.submit).
        "table.exec.uid.generation": "PLAN_ONLY",
        # Chained SQL operators do not keep records they hand on.
        "pipeline.object-reuse": "true",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1 s",
        "restart-strategy.exponential-delay.max-backoff": "30 s",
    }
