"""The archive writer: the detection job's topics into PostgreSQL, outside Flink.

It reads three topics with its own consumer group (``archive_group``):
the validated transactions (``topic_valid``), the dead-letter topic and the
alerts, and upserts them into ``transactions``, ``rejected_records`` and
``alerts``. A batch is committed to PostgreSQL first and its Kafka offsets
after, so a crash repeats at most one batch, which the upserts absorb.

While PostgreSQL is away the writer holds its batch and retries (back-off up
to 5 s) without committing offsets; once the database answers it catches up
from where it stopped. It runs as its own process because a Flink JDBC sink
that cannot flush fails its task while closing, which Flink treats as fatal
for the whole TaskManager: the detection job would stop with it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import psycopg
from confluent_kafka import Consumer, KafkaException, Message

from fraudstream.config import Settings

log = logging.getLogger(__name__)

TX_COLUMNS: Final = (
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
    "ingested_at",
    "quality_flags",
)
ALERT_COLUMNS: Final = (
    "alert_id",
    "rule_id",
    "rule_type",
    "severity",
    "score",
    "reason",
    "transaction_id",
    "card_masked",
    "card_token",
    "bank_id",
    "user_id",
    "amount",
    "currency",
    "merchant",
    "country",
    "payment_system",
    "event_time",
    "detected_at",
    "evidence",
    "hits",
    "last_transaction_id",
    "case_id",
)
REJECTED_COLUMNS: Final = (
    "source_topic",
    "source_partition",
    "source_offset",
    "reason",
    "detail",
    "raw_payload",
    "received_at",
)
_TIMESTAMPS: Final = frozenset({"event_time", "ingested_at", "detected_at", "received_at"})


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE: a replayed row writes the same values."""
    values = ", ".join("%s::timestamptz" if c in _TIMESTAMPS else "%s" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def sql(self) -> str:
        return upsert_sql(self.name, self.columns, self.key)

    def row(self, record: dict[str, Any]) -> tuple[Any, ...]:
        values = []
        for column in self.columns:
            value = record.get(column)
            if column == "evidence" and isinstance(value, list):
                value = orjson.dumps(value).decode()
            elif isinstance(value, str):
                value = value.replace("\x00", "")  # PostgreSQL text cannot hold NUL
            values.append(value)
        return tuple(values)


TRANSACTIONS: Final = Table("transactions", TX_COLUMNS, ("transaction_id",))
ALERTS: Final = Table("alerts", ALERT_COLUMNS, ("alert_id",))
REJECTED: Final = Table(
    "rejected_records", REJECTED_COLUMNS, ("source_topic", "source_partition", "source_offset")
)


def tables(settings: Settings) -> dict[str, Table]:
    """Topic name -> the table its records go to."""
    return {
        settings.topic_valid: TRANSACTIONS,
        settings.topic_dlq: REJECTED,
        settings.topic_alerts: ALERTS,
    }


@dataclass
class Batch:
    """Rows of one poll, per table, in topic order (a later version of an alert last)."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    records: int = 0

    def add(self, table: Table, record: dict[str, Any]) -> None:
        self.rows.setdefault(table.name, []).append(table.row(record))
        self.records += 1


def batch_of(messages: Sequence[Message], by_topic: dict[str, Table]) -> Batch:
    batch = Batch()
    for message in messages:
        if message.error():
            continue
        table = by_topic.get(message.topic() or "")
        value = message.value()
        if table is None or value is None:
            continue
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            # Only the detection job writes these topics; say so, never stop.
            log.error(
                "not JSON on %s at %s:%s; skipped",
                message.topic(),
                message.partition(),
                message.offset(),
            )
            continue
        batch.add(table, record)
    return batch


@dataclass
class Stats:
    written: int = 0
    batches: int = 0
    outages: int = 0
    last_error: str | None = None


class Archiver:
    """Consume, upsert, commit; until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_batch: int = 2000,
        linger_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.max_backoff_s = max_backoff_s
        self.by_topic = tables(settings)
        self.stats = Stats()
        self._conn: psycopg.Connection[Any] | None = None

    def _consumer(self) -> Consumer:
        consumer = Consumer(
            {
                **self.settings.kafka_client_config("job"),
                "group.id": self.settings.archive_group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe(list(self.by_topic))
        return consumer

    def run(self, stop: threading.Event, progress: Callable[[Stats], None] | None = None) -> Stats:
        consumer = self._consumer()
        try:
            while not stop.is_set():
                messages = consumer.consume(self.max_batch, self.linger_s)
                if not messages:
                    continue
                batch = batch_of(messages, self.by_topic)
                if batch.records and not self._write_until_done(batch, stop):
                    break  # stopped while PostgreSQL was away: offsets stay uncommitted
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as exc:
                    # Nothing to commit (a poll of errors only), or the group
                    # is rebalancing: the next batch commits past this one.
                    log.debug("offsets not committed: %s", exc)
                if progress is not None:
                    progress(self.stats)
        finally:
            consumer.close()
            if self._conn is not None:
                self._conn.close()
        return self.stats

    def _write_until_done(self, batch: Batch, stop: threading.Event) -> bool:
        backoff = 0.5
        while not stop.is_set():
            try:
                self._write(batch)
            except psycopg.OperationalError as exc:
                if self.stats.last_error is None:
                    self.stats.outages += 1
                    log.warning("PostgreSQL unavailable (%s); holding the batch and retrying", exc)
                self.stats.last_error = str(exc).strip().splitlines()[0] if str(exc) else "error"
                self._drop_connection()
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if self.stats.last_error is not None:
                log.info("PostgreSQL back; the archive catches up")
                self.stats.last_error = None
            self.stats.written += batch.records
            self.stats.batches += 1
            return True
        return False

    def _write(self, batch: Batch) -> None:
        conn = self._connection()
        try:
            with conn.transaction():
                for table in (TRANSACTIONS, REJECTED, ALERTS):
                    rows = batch.rows.get(table.name)
                    if rows:
                        with conn.cursor() as cur:
                            cur.executemany(table.sql, rows)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # A row PostgreSQL refuses would block the archive forever: write
            # the batch row by row and name (then skip) what it refuses.
            log.error("a batch was refused (%s); writing it row by row", exc)
            self._write_rows_one_by_one(conn, batch)

    def _write_rows_one_by_one(self, conn: psycopg.Connection[Any], batch: Batch) -> None:
        for table in (TRANSACTIONS, REJECTED, ALERTS):
            for row in batch.rows.get(table.name, []):
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        cur.execute(table.sql, row)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    log.error("%s row %s refused, skipped: %s", table.name, row[0], exc)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.settings.job_dsn, autocommit=True, connect_timeout=5)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class Background:
    """An archiver in a thread of this process (tests, benchmarks)."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.archiver = Archiver(settings, **options)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.archiver.run, args=(self._stop,), name="archiver", daemon=True
        )

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def run_foreground(
    settings: Settings, stop: threading.Event, report_every_s: float = 30.0
) -> Stats:
    """``fraudstream archive``: log progress every ``report_every_s``, a summary at the end."""
    last = [time.monotonic(), 0]

    def progress(stats: Stats) -> None:
        now = time.monotonic()
        if now - last[0] >= report_every_s:
            rate = (stats.written - last[1]) / (now - last[0])
            log.info("archive: %d records written (%.0f/s)", stats.written, rate)
            last[0], last[1] = now, stats.written

    log.info(
        "archiving %s into PostgreSQL (group %s)",
        ", ".join(tables(settings)),
        settings.archive_group,
    )
    stats = Archiver(settings).run(stop, progress)
    log.info(
        "archive stopped: %d records in %d batches, %d PostgreSQL outage(s) ridden out",
        stats.written,
        stats.batches,
        stats.outages,
    )
    return stats
