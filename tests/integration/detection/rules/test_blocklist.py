"""The blocklist rule against the stack's PostgreSQL: a JDBC lookup join with a
short cache, so an entry inserted while the job runs takes effect without a
restart. Flink runs in-process; the stream is a folder of JSON-lines files
the source keeps watching."""

from __future__ import annotations

import itertools
import json
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fraudstream.config import Settings
from fraudstream.detection.rules import ALERT_COLUMNS, alerts_sql, ddl, parse_catalogue
from fraudstream.platform.flinkclient import table_env

SOURCE = """
  transaction_id STRING, bank_id STRING, payment_system STRING, card_masked STRING,
  card_token STRING, user_id BIGINT, amount DOUBLE, currency STRING, merchant STRING,
  country STRING, event_time TIMESTAMP_LTZ(3), merchant_category STRING, channel STRING,
  proc_time AS PROCTIME(),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND
"""


class Folder:
    """A watched folder: each batch lands as one new file, renamed in whole."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="fraudstream-blocklist-"))
        self._staging = Path(tempfile.mkdtemp(prefix="fraudstream-staging-"))
        self._n = itertools.count(1)

    def write(self, rows: list[dict[str, Any]]) -> None:
        n = next(self._n)
        staged = self._staging / f"batch{n}.json"
        staged.write_text("".join(json.dumps(r) + "\n" for r in rows))
        staged.rename(self.path / staged.name)


def tx(tid: str, *, merchant: str = "Corner Shop", country: str = "US", token: str = "tok-ok"):
    return {
        "transaction_id": tid,
        "bank_id": "BANK_A",
        "payment_system": "VISA",
        "card_masked": "411111******1111",
        "card_token": token,
        "user_id": 7,
        "amount": 25.0,
        "currency": "USD",
        "merchant": merchant,
        "country": country,
        "event_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "merchant_category": None,
        "channel": None,
    }


@pytest.fixture
def entries(pg: psycopg.Connection[tuple[object, ...]]) -> Iterator[dict[str, str]]:
    """Unique block list values for this test, removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    values = {
        "merchant": f"Shady Merchant {tag}",
        "late_merchant": f"Turned Bad {tag}",
        "country": f"Z{tag}",
        "card_token": f"tok-{tag}",
    }
    pg.execute(
        "INSERT INTO blocklist (kind, value, reason) VALUES "
        "('merchant', %s, 'chargebacks'), ('country', %s, 'sanctions'), "
        "('card_token', %s, '')",
        (values["merchant"], values["country"], values["card_token"]),
    )
    yield values
    pg.execute(
        "DELETE FROM blocklist WHERE value = ANY(%s)",
        (list(values.values()),),
    )


def test_blocklist_lookup_sees_new_entries_without_restart(
    settings: Settings, pg: psycopg.Connection[tuple[object, ...]], entries: dict[str, str]
) -> None:
    env = table_env(
        settings,
        remote=False,
        config={"parallelism.default": 1, "table.local-time-zone": "UTC"},
    )
    folder = Folder()
    env.execute_sql(
        f"""CREATE TEMPORARY TABLE raw_tx ({SOURCE}) WITH (
          'connector' = 'filesystem', 'path' = '{folder.path}', 'format' = 'json',
          'json.timestamp-format.standard' = 'ISO-8601', 'source.monitor-interval' = '200ms')"""
    )
    env.execute_sql("CREATE TEMPORARY VIEW tx AS SELECT * FROM raw_tx")
    catalogue = parse_catalogue(
        {
            "rules": [
                {
                    "id": "blocked",
                    "type": "blocklist",
                    "severity": "critical",
                    "params": {"cache_seconds": 1},
                }
            ]
        }
    )
    for statement in ddl(catalogue, settings):
        env.execute_sql(statement)
    columns = ", ".join(
        "CAST(event_time AS STRING) AS event_time" if c == "event_time" else c
        for c in ALERT_COLUMNS
    )
    result = env.execute_sql(f"SELECT {columns} FROM ({alerts_sql(catalogue, 'tx', settings)})")
    alerts: queue.Queue[dict[str, Any]] = queue.Queue()
    stopping = threading.Event()

    def read() -> None:
        try:
            with result.collect() as rows:
                for row in rows:
                    alerts.put(dict(zip(ALERT_COLUMNS, tuple(row), strict=True)))
        except Exception:
            # Cancelling the job at the end ends the iterator with an error.
            if not stopping.is_set():
                raise

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def next_alert(timeout: float = 60) -> dict[str, Any]:
        return alerts.get(timeout=timeout)

    try:
        folder.write(
            [
                tx("clean-1"),
                tx("late-1", merchant=entries["late_merchant"]),
                tx("merchant-1", merchant=entries["merchant"]),
                tx("country-1", country=entries["country"]),
                tx("card-1", token=entries["card_token"]),
                tx("both-1", merchant=entries["merchant"], country=entries["country"]),
            ]
        )
        first = {}
        for _ in range(4):
            alert = next_alert()
            first[alert["transaction_id"]] = alert
        assert set(first) == {"merchant-1", "country-1", "card-1", "both-1"}
        assert first["merchant-1"]["reason"] == (
            f"merchant {entries['merchant']} is on the block list (chargebacks)"
        )
        assert first["card-1"]["reason"] == (
            "card 411111******1111 is on the block list (no reason given)"
        )
        assert entries["card_token"] not in first["card-1"]["reason"]
        assert first["both-1"]["reason"] == (
            f"merchant {entries['merchant']} is on the block list (chargebacks); "
            f"country {entries['country']} is on the block list (sanctions)"
        )
        assert first["both-1"]["score"] == 1.0
        assert json.loads(first["both-1"]["evidence"]) == ["both-1"]

        # Block a merchant while the job runs: once the cached miss expires
        # (cache_seconds=1), its next transaction raises an alert.
        pg.execute(
            "INSERT INTO blocklist (kind, value, reason) VALUES ('merchant', %s, 'new fraud')",
            (entries["late_merchant"],),
        )
        deadline = time.monotonic() + 60
        for n in itertools.count(2):
            folder.write([tx(f"late-{n}", merchant=entries["late_merchant"])])
            try:
                alert = alerts.get(timeout=1)
                break
            except queue.Empty:
                assert time.monotonic() < deadline, "the new block list entry never took effect"
        assert alert["transaction_id"].startswith("late-")
        assert alert["transaction_id"] != "late-1"
        assert "(new fraud)" in alert["reason"]
    finally:
        stopping.set()
        job = result.get_job_client()
        if job is not None:
            job.cancel()
        reader.join(timeout=30)
