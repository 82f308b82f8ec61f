"""The archive writer's SQL, rows and batches, and how it rides out a
PostgreSQL outage (the database stood in for by a connection that fails)."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import psycopg
import pytest

from fraudstream.archive import writer
from fraudstream.config import Settings

SETTINGS = Settings(
    topic_valid="v-topic",
    topic_dlq="d-topic",
    topic_alerts="a-topic",
    detection_group_id="grp",
)


class _Message:
    def __init__(self, topic: str, value: bytes | None, offset: int = 0) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


def test_upserts_on_the_primary_keys() -> None:
    sql = writer.TRANSACTIONS.sql
    assert sql.startswith("INSERT INTO transactions (transaction_id, bank_id,")
    assert "ON CONFLICT (transaction_id) DO UPDATE SET bank_id = EXCLUDED.bank_id" in sql
    assert "transaction_id = EXCLUDED" not in sql
    assert "%s::timestamptz" in sql  # ISO text cast by PostgreSQL
    assert sql.count("%s") == len(writer.TX_COLUMNS)
    assert "ON CONFLICT (alert_id) DO UPDATE" in writer.ALERTS.sql
    assert "hits = EXCLUDED.hits" in writer.ALERTS.sql
    assert (
        "ON CONFLICT (source_topic, source_partition, source_offset) DO UPDATE"
        in writer.REJECTED.sql
    )


def test_each_topic_feeds_its_table_and_the_group_is_its_own() -> None:
    assert writer.tables(SETTINGS) == {
        "v-topic": writer.TRANSACTIONS,
        "d-topic": writer.REJECTED,
        "a-topic": writer.ALERTS,
    }
    assert SETTINGS.archive_group == "grp-archive"
    assert Settings(archive_group_id="own").archive_group == "own"


def test_rows_keep_order_clean_nul_and_store_evidence_as_json() -> None:
    alert = {"alert_id": "a1", "merchant": "Bad\x00Shop", "evidence": ["t1", "t2"], "hits": 2}
    again = {**alert, "hits": 3}
    messages = [
        _Message("a-topic", orjson.dumps(alert)),
        _Message("a-topic", b"{not json"),
        _Message("x-topic", b"{}"),
        _Message("a-topic", None),
        _Message("a-topic", orjson.dumps(again)),
    ]
    batch = writer.batch_of(messages, writer.tables(SETTINGS))  # type: ignore[arg-type]
    assert batch.records == 2
    rows = batch.rows["alerts"]
    column = writer.ALERT_COLUMNS.index
    assert [r[column("hits")] for r in rows] == [2, 3]  # the later version last
    assert rows[0][column("merchant")] == "BadShop"
    assert rows[0][column("evidence")] == '["t1","t2"]'
    assert rows[0][column("last_transaction_id")] is None


class _Failing:
    """Fails ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise psycopg.OperationalError("connection refused")
        return self


def test_a_batch_is_held_and_retried_until_postgres_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archiver = writer.Archiver(SETTINGS, max_backoff_s=0.01)
    factory = _Failing(3)
    written: list[writer.Batch] = []
    monkeypatch.setattr(archiver, "_write", lambda batch: (factory(), written.append(batch)))
    batch = writer.Batch()
    batch.add(writer.TRANSACTIONS, {"transaction_id": "t"})
    assert archiver._write_until_done(batch, threading.Event())
    assert written == [batch]
    assert archiver.stats.outages == 1 and archiver.stats.written == 1
    assert archiver.stats.last_error is None


def test_stop_during_an_outage_leaves_the_batch_unwritten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archiver = writer.Archiver(SETTINGS, max_backoff_s=0.01)
    stop = threading.Event()

    def down(batch: writer.Batch) -> None:
        stop.set()
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(archiver, "_write", down)
    assert not archiver._write_until_done(writer.Batch(records=1), stop)
    assert archiver.stats.written == 0
