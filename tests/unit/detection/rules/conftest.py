"""Runs rule SQL on small hand-written streams with Flink in-process.

Starting PyFlink costs seconds, so one TableEnvironment serves the whole
folder; each run registers its stream as a new JSON-lines file table.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fraudstream.config import Settings
from fraudstream.detection.rules import ALERT_COLUMNS, alerts_sql, parse_catalogue
from fraudstream.platform.flinkclient import table_env

REPO_ROOT = Path(__file__).resolve().parents[4]
T0 = datetime(2025, 12, 16, 10, 0, 0, tzinfo=UTC)

SOURCE_COLUMNS = """
  transaction_id STRING, bank_id STRING, payment_system STRING, card_masked STRING,
  card_token STRING, user_id BIGINT, amount DOUBLE, currency STRING, merchant STRING,
  country STRING, event_time TIMESTAMP_LTZ(3), merchant_category STRING, channel STRING
"""


def rule_settings() -> Settings:
    return Settings(jvm_dir=REPO_ROOT / ".fraudstream" / "jvm")


@dataclass
class Stream:
    """Builds transactions; ids read as '<card>-<n>' so assertions stay legible."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    _counters: dict[str, Iterator[int]] = field(default_factory=dict)

    def tx(
        self,
        card: str,
        amount: float,
        at: float,
        *,
        country: str = "US",
        currency: str = "USD",
        merchant: str = "Corner Shop",
        user: int = 1,
        tid: str | None = None,
    ) -> str:
        n = next(self._counters.setdefault(card, itertools.count(1)))
        tid = tid or f"{card}-{n}"
        self.rows.append(
            {
                "transaction_id": tid,
                "bank_id": "BANK_A",
                "payment_system": "VISA",
                "card_masked": "411111******1111",
                "card_token": f"tok-{card}",
                "user_id": user,
                "amount": amount,
                "currency": currency,
                "merchant": merchant,
                "country": country,
                "event_time": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
                "merchant_category": None,
                "channel": None,
            }
        )
        return tid


class RuleRunner:
    def __init__(self, env: Any, settings: Settings) -> None:
        self.env = env
        self.settings = settings
        self._names = itertools.count(1)
        self._dir = Path(tempfile.mkdtemp(prefix="fraudstream-rules-"))

    def register(self, stream: Stream) -> str:
        n = next(self._names)
        path = self._dir / f"stream{n}.json"
        ordered = sorted(stream.rows, key=lambda r: str(r["event_time"]))
        path.write_text("".join(json.dumps(r) + "\n" for r in ordered))
        self.env.execute_sql(
            f"""CREATE TEMPORARY TABLE raw{n} ({SOURCE_COLUMNS},
              proc_time AS PROCTIME(),
              WATERMARK FOR event_time AS event_time - INTERVAL '1' SECOND
            ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json',
                    'json.timestamp-format.standard' = 'ISO-8601')"""
        )
        self.env.execute_sql(f"CREATE TEMPORARY VIEW tx{n} AS SELECT * FROM raw{n}")
        return f"tx{n}"

    def alerts(
        self, rules: list[dict[str, Any]], stream: Stream, *, ddl: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every alert the rules raise on the stream, as dicts (event_time as text)."""
        catalogue = parse_catalogue({"rules": rules})
        view = self.register(stream)
        for statement in ddl or []:
            self.env.execute_sql(statement)
        # TIMESTAMP_LTZ values cannot cross the Python bridge; read them as text.
        columns = ", ".join(
            "CAST(event_time AS STRING) AS event_time" if c == "event_time" else c
            for c in ALERT_COLUMNS
        )
        query = f"SELECT {columns} FROM ({alerts_sql(catalogue, view, self.settings)})"
        with self.env.execute_sql(query).collect() as results:
            return [dict(zip(ALERT_COLUMNS, tuple(row), strict=True)) for row in results]


@pytest.fixture(scope="package")
def runner() -> RuleRunner:
    settings = rule_settings()
    env = table_env(
        settings,
        remote=False,
        config={"parallelism.default": 1, "table.local-time-zone": "UTC"},
    )
    return RuleRunner(env, settings)


def fired(alerts: list[dict[str, Any]], rule_id: str | None = None) -> set[str]:
    """Transaction ids that raised an alert (optionally of one rule)."""
    return {a["transaction_id"] for a in alerts if rule_id is None or a["rule_id"] == rule_id}
