"""Everything the dashboard asks PostgreSQL, as DataFrames.

Reads run in read-only sessions (``default_transaction_read_only``); the only
write is an analyst's triage verdict. Every call opens a short-lived connection
with a short connect timeout, so an outage costs a page a couple of seconds
and the next refresh reconnects by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final, Literal

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from fraudstream.records import Alert

CONNECT_TIMEOUT: Final = 3
STATEMENT_TIMEOUT_MS: Final = 15000

Verdict = Literal["confirmed_fraud", "false_positive"]
VERDICTS: Final[tuple[Verdict, ...]] = ("confirmed_fraud", "false_positive")

# The alert contract as stored in PostgreSQL; evidence is not shown.
ALERT_COLUMNS: Final = tuple(f.name for f in fields(Alert) if f.name != "evidence")


class ArchiveUnavailable(RuntimeError):
    """PostgreSQL cannot be reached, dropped the connection or timed out."""


# Failures of the server or the network; a failing query is a bug and is raised.
_OUTAGE: Final = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(frozen=True)
class AlertFilter:
    """What the analyst narrowed the alert list to; empty means everything."""

    rules: tuple[str, ...] = ()
    banks: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    card_token: str | None = None
    card_masked: str | None = None
    user_id: int | None = None
    case_id: str | None = None
    """One case: the alerts with this case id (or this alert id, when they have none)."""

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.rules:
            clauses.append("rule_id = ANY(%(rules)s)")
            params["rules"] = list(self.rules)
        if self.banks:
            clauses.append("bank_id = ANY(%(banks)s)")
            params["banks"] = list(self.banks)
        if self.severities:
            clauses.append("severity = ANY(%(severities)s)")
            params["severities"] = list(self.severities)
        if self.since is not None:
            clauses.append("detected_at >= %(since)s")
            params["since"] = self.since
        if self.until is not None:
            clauses.append("detected_at <= %(until)s")
            params["until"] = self.until
        if self.card_token is not None:
            clauses.append("card_token = %(card_token)s")
            params["card_token"] = self.card_token
        if self.card_masked is not None:
            clauses.append("card_masked = %(card_masked)s")
            params["card_masked"] = self.card_masked
        if self.user_id is not None:
            clauses.append("user_id = %(user_id)s")
            params["user_id"] = self.user_id
        if self.case_id is not None:
            # The index on case_id serves the first half; the second finds an
            # alert archived before cases existed, which is its own case.
            clauses.append(
                "(case_id = %(case_id)s OR (case_id IS NULL AND alert_id = %(case_id)s))"
            )
            params["case_id"] = self.case_id
        return (" AND ".join(clauses) or "TRUE"), params


class Archive:
    """Read-only access to the archive, plus the triage write."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def _connect(self, *, read_only: bool) -> psycopg.Connection[dict[str, Any]]:
        options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        try:
            return psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                options=options,
                row_factory=dict_row,
                application_name="fraudstream-dashboard",
            )
        except _OUTAGE as exc:
            raise ArchiveUnavailable(_first_line(exc)) from exc

    def frame(
        self, sql: str, params: dict[str, Any] | None = None, columns: Sequence[str] = ()
    ) -> pd.DataFrame:
        try:
            with self._connect(read_only=True) as conn:
                rows = conn.execute(sql.encode(), params or {}).fetchall()
        except _OUTAGE as exc:
            raise ArchiveUnavailable(_first_line(exc)) from exc
        if not rows:
            return pd.DataFrame(columns=list(columns))
        return pd.DataFrame(rows)

    def ping(self) -> None:
        self.frame("SELECT 1 AS ok")

    # -- overview ----------------------------------------------------------------
    def bank_summary(self, seconds: int) -> pd.DataFrame:
        """Per bank (and one row for all banks, bank_id NULL) over the last ``seconds``."""
        sql = """
        WITH tx AS (
            SELECT coalesce(t.bank_id, '') AS bank_key, count(*) AS transactions,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM alerts a WHERE a.transaction_id = t.transaction_id
                   )) AS alerted_transactions,
                   coalesce(sum(t.amount) FILTER (WHERE EXISTS (
                       SELECT 1 FROM alerts a
                       WHERE a.transaction_id = t.transaction_id
                         AND NOT EXISTS (
                             SELECT 1 FROM alert_triage g
                             WHERE g.alert_id = a.alert_id AND g.verdict = 'false_positive')
                   )), 0) AS amount_at_risk
            FROM transactions t
            WHERE t.event_time >= now() - make_interval(secs => %(secs)s)
            GROUP BY GROUPING SETS ((t.bank_id), ())
        ), al AS (
            SELECT coalesce(bank_id, '') AS bank_key, count(*) AS alerts,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM detected_at - event_time)) AS latency_p50,
                   percentile_cont(0.99) WITHIN GROUP (
                       ORDER BY extract(epoch FROM detected_at - event_time)) AS latency_p99
            FROM alerts
            WHERE detected_at >= now() - make_interval(secs => %(secs)s)
            GROUP BY GROUPING SETS ((bank_id), ())
        )
        SELECT nullif(coalesce(tx.bank_key, al.bank_key), '') AS bank_id,
               coalesce(tx.transactions, 0) AS transactions,
               coalesce(tx.alerted_transactions, 0) AS alerted_transactions,
               coalesce(tx.amount_at_risk, 0) AS amount_at_risk,
               coalesce(al.alerts, 0) AS alerts,
               al.latency_p50, al.latency_p99
        FROM tx FULL OUTER JOIN al ON tx.bank_key = al.bank_key
        ORDER BY 1 NULLS FIRST
        """
        return self.frame(
            sql,
            {"secs": seconds},
            (
                "bank_id",
                "transactions",
                "alerted_transactions",
                "amount_at_risk",
                "alerts",
                "latency_p50",
                "latency_p99",
            ),
        )

    def transaction_series(self, seconds: int, bucket: int) -> pd.DataFrame:
        sql = """
        SELECT to_timestamp(floor(extract(epoch FROM event_time) / %(bucket)s) * %(bucket)s)
                   AS bucket,
               bank_id, count(*) AS transactions
        FROM transactions
        WHERE event_time >= now() - make_interval(secs => %(secs)s)
        GROUP BY 1, 2 ORDER BY 1
        """
        return self.frame(
            sql, {"secs": seconds, "bucket": bucket}, ("bucket", "bank_id", "transactions")
        )

    def alert_series(self, seconds: int, bucket: int) -> pd.DataFrame:
        sql = """
        SELECT to_timestamp(floor(extract(epoch FROM detected_at) / %(bucket)s) * %(bucket)s)
                   AS bucket,
               bank_id, count(*) AS alerts,
               percentile_cont(0.99) WITHIN GROUP (
                   ORDER BY extract(epoch FROM detected_at - event_time)) AS latency_p99
        FROM alerts
        WHERE detected_at >= now() - make_interval(secs => %(secs)s)
        GROUP BY 1, 2 ORDER BY 1
        """
        return self.frame(
            sql,
            {"secs": seconds, "bucket": bucket},
            ("bucket", "bank_id", "alerts", "latency_p99"),
        )

    # -- alerts ------------------------------------------------------------------
    def alerts(self, flt: AlertFilter, limit: int) -> pd.DataFrame:
        where, params = flt.where()
        cols = ", ".join(ALERT_COLUMNS)
        sql = f"""
        SELECT {cols}, evidence FROM alerts WHERE {where}
        ORDER BY detected_at DESC LIMIT %(limit)s
        """
        return self.frame(sql, {**params, "limit": limit}, (*ALERT_COLUMNS, "evidence"))

    def banks(self) -> list[str]:
        df = self.frame(
            "SELECT bank_id FROM (SELECT DISTINCT bank_id FROM alerts"
            " UNION SELECT DISTINCT bank_id FROM transactions) b ORDER BY 1",
            columns=("bank_id",),
        )
        return [str(b) for b in df["bank_id"]]

    def transactions(self, flt: AlertFilter, limit: int) -> pd.DataFrame:
        """Recent transactions of one card or user (the filter's card/user fields)."""
        clauses: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        if flt.card_token is not None:
            clauses.append("card_token = %(card_token)s")
            params["card_token"] = flt.card_token
        if flt.card_masked is not None:
            clauses.append("card_masked = %(card_masked)s")
            params["card_masked"] = flt.card_masked
        if flt.user_id is not None:
            clauses.append("user_id = %(user_id)s")
            params["user_id"] = flt.user_id
        where = " AND ".join(clauses) or "TRUE"
        sql = f"""
        SELECT transaction_id, event_time, bank_id, payment_system, card_masked, user_id,
               amount, currency, merchant, country, merchant_category, channel,
               EXISTS (SELECT 1 FROM alerts a WHERE a.transaction_id = t.transaction_id)
                   AS alerted
        FROM transactions t WHERE {where}
        ORDER BY event_time DESC LIMIT %(limit)s
        """
        return self.frame(
            sql,
            params,
            (
                "transaction_id",
                "event_time",
                "bank_id",
                "payment_system",
                "card_masked",
                "user_id",
                "amount",
                "currency",
                "merchant",
                "country",
                "merchant_category",
                "channel",
                "alerted",
            ),
        )

    # -- analytics -----------------------------------------------------------------
    def alerts_by(self, column: str, seconds: int | None, limit: int = 50) -> pd.DataFrame:
        allowed = ("rule_id", "bank_id", "payment_system", "merchant", "country", "severity")
        if column not in allowed:
            raise ValueError(f"cannot group alerts by {column!r}")
        where = "detected_at >= now() - make_interval(secs => %(secs)s)" if seconds else "TRUE"
        sql = f"""
        SELECT {column} AS key, count(*) AS alerts, sum(amount) AS amount
        FROM alerts WHERE {where}
        GROUP BY 1 ORDER BY alerts DESC, key LIMIT %(limit)s
        """
        return self.frame(sql, {"secs": seconds, "limit": limit}, ("key", "alerts", "amount"))

    # -- rules -----------------------------------------------------------------------
    def rule_stats(self, seconds: int | None) -> pd.DataFrame:
        """Per rule: hits (all time and in the window), triage marks, labelled hits."""
        sql = """
        SELECT a.rule_id,
               count(*) AS hits_total,
               count(*) FILTER (
                   WHERE %(secs)s::int IS NULL
                      OR a.detected_at >= now() - make_interval(secs => %(secs)s::int)
               ) AS hits_window,
               max(a.detected_at) AS last_hit,
               count(g.alert_id) FILTER (WHERE g.verdict = 'confirmed_fraud') AS confirmed,
               count(g.alert_id) FILTER (WHERE g.verdict = 'false_positive') AS false_positives,
               count(l.transaction_id) AS labelled_fraud
        FROM alerts a
        LEFT JOIN alert_triage g ON g.alert_id = a.alert_id
        LEFT JOIN fraud_labels l ON l.transaction_id = a.transaction_id
        GROUP BY a.rule_id ORDER BY a.rule_id
        """
        return self.frame(
            sql,
            {"secs": seconds},
            (
                "rule_id",
                "hits_total",
                "hits_window",
                "last_hit",
                "confirmed",
                "false_positives",
                "labelled_fraud",
            ),
        )

    def labels_present(self) -> bool:
        df = self.frame("SELECT EXISTS (SELECT 1 FROM fraud_labels) AS present")
        return bool(df["present"].iloc[0])

    # -- triage ------------------------------------------------------------------------
    def verdicts(self, alert_ids: Sequence[str]) -> dict[str, str]:
        """alert id -> verdict, for those of ``alert_ids`` that have one."""
        if not alert_ids:
            return {}
        df = self.frame(
            "SELECT alert_id, verdict FROM alert_triage WHERE alert_id = ANY(%(ids)s)",
            {"ids": list(alert_ids)},
            ("alert_id", "verdict"),
        )
        return dict(zip(df["alert_id"].astype(str), df["verdict"].astype(str), strict=True))

    def triage_marks(self, limit: int = 50) -> pd.DataFrame:
        sql = """
        SELECT g.alert_id, coalesce(a.case_id, g.alert_id) AS case_id, g.verdict, g.analyst,
               g.note, g.updated_at, a.rule_id, a.severity, a.card_masked, a.bank_id, a.amount
        FROM alert_triage g LEFT JOIN alerts a ON a.alert_id = g.alert_id
        ORDER BY g.updated_at DESC LIMIT %(limit)s
        """
        return self.frame(
            sql,
            {"limit": limit},
            (
                "alert_id",
                "case_id",
                "verdict",
                "analyst",
                "note",
                "updated_at",
                "rule_id",
                "severity",
                "card_masked",
                "bank_id",
                "amount",
            ),
        )

    def record_verdict(
        self, alert_id: str, verdict: Verdict, note: str | None, analyst: str | None
    ) -> None:
        """Store (or replace) the verdict on one alert."""
        self.record_verdicts((alert_id,), verdict, note, analyst)

    def record_verdicts(
        self, alert_ids: Sequence[str], verdict: Verdict, note: str | None, analyst: str | None
    ) -> None:
        """Store (or replace) one verdict on several alerts (a case's), atomically."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}")
        if not alert_ids:
            return
        sql = """
        INSERT INTO alert_triage (alert_id, verdict, analyst, note, updated_at)
        VALUES (%s, %s, %s, %s, now())
        ON CONFLICT (alert_id) DO UPDATE
        SET verdict = EXCLUDED.verdict, analyst = EXCLUDED.analyst,
            note = EXCLUDED.note, updated_at = EXCLUDED.updated_at
        """
        rows = [(a, verdict, analyst or None, note or None) for a in alert_ids]
        try:
            with self._connect(read_only=False) as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows)
        except _OUTAGE as exc:
            raise ArchiveUnavailable(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
