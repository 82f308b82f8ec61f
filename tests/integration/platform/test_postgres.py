"""The archive database answers and its migrations apply exactly once."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from fraudstream.archive import migrate
from fraudstream.config import Settings


def test_postgres_answers(pg: psycopg.Connection[tuple[object, ...]]) -> None:
    assert pg.execute("SELECT 1").fetchone() == (1,)


def test_migrations_applied_once(
    settings: Settings, pg: psycopg.Connection[tuple[object, ...]]
) -> None:
    expected = [m.version for m in migrate.discover()]
    rows = pg.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == expected
    before = pg.execute("SELECT max(applied_at) FROM schema_migrations").fetchone()
    assert migrate.migrate(settings.dsn) == []
    after = pg.execute("SELECT max(applied_at) FROM schema_migrations").fetchone()
    assert before == after


def test_transactions_table_keyed_by_transaction_id(
    pg: psycopg.Connection[tuple[object, ...]],
) -> None:
    row = pg.execute(
        """
        SELECT a.attname FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'transactions'::regclass AND i.indisprimary
        """
    ).fetchall()
    assert row == [("transaction_id",)]


# -- one role per component ------------------------------------------------------


def _refused(dsn: str, statement: str, params: tuple[object, ...] = ()) -> str:
    """Run ``statement`` as the DSN's role; return the SQLSTATE it was refused with."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(statement.encode(), params)
        except psycopg.errors.InsufficientPrivilege as exc:
            return str(exc.sqlstate)
    raise AssertionError(f"not refused: {statement}")


def _row_id() -> str:
    return f"roles-{uuid.uuid4().hex[:12]}"


TX_INSERT = (
    "INSERT INTO transactions (transaction_id, bank_id, payment_system, card_masked, "
    "card_token, user_id, amount, currency, merchant, country, event_time) "
    "VALUES (%s, 'BANK_A', 'VISA', '411111******1111', 'tok', 1, 1.0, 'EUR', 'm', 'DE', now())"
)


def test_the_job_role_writes_its_tables_and_nothing_else(settings: Settings) -> None:
    tx = _row_id()
    with psycopg.connect(settings.job_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (settings.postgres_job_user,)
        conn.execute(TX_INSERT.encode(), (tx,))
        conn.execute("UPDATE transactions SET merchant = 'm2' WHERE transaction_id = %s", (tx,))
        conn.execute("SELECT count(*) FROM blocklist").fetchone()
    job = settings.job_dsn
    assert _refused(job, "DELETE FROM transactions WHERE transaction_id = %s", (tx,)) == "42501"
    assert _refused(job, "TRUNCATE alerts") == "42501"
    assert _refused(job, "INSERT INTO blocklist (kind, value) VALUES ('merchant', 'x')") == "42501"
    assert _refused(job, "SELECT * FROM alert_triage") == "42501"
    assert (
        _refused(job, "INSERT INTO alert_triage (alert_id, verdict) VALUES ('a', 'false_positive')")
        == "42501"
    )
    assert _refused(job, "CREATE TABLE job_made (x int)") == "42501"
    assert _refused(job, "DROP TABLE fraud_labels") == "42501"


def test_the_dashboard_role_reads_and_writes_only_triage(settings: Settings) -> None:
    alert = _row_id()
    dash = settings.dashboard_dsn
    with psycopg.connect(dash, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (settings.postgres_dashboard_user,)
        for table in ("transactions", "alerts", "rejected_records", "blocklist", "fraud_labels"):
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        conn.execute(
            "INSERT INTO alert_triage (alert_id, verdict, analyst) VALUES (%s, 'false_positive', "
            "'ana') ON CONFLICT (alert_id) DO UPDATE SET verdict = EXCLUDED.verdict",
            (alert,),
        )
    assert _refused(dash, TX_INSERT, (_row_id(),)) == "42501"
    assert _refused(dash, "UPDATE alerts SET severity = 'low'") == "42501"
    assert _refused(dash, "DELETE FROM alert_triage WHERE alert_id = %s", (alert,)) == "42501"
    assert _refused(dash, "INSERT INTO blocklist (kind, value) VALUES ('merchant', 'x')") == "42501"
    assert _refused(dash, "CREATE TABLE dash_made (x int)") == "42501"


def test_a_wrong_role_password_is_refused(settings: Settings) -> None:
    dsn = settings.dashboard_dsn.replace(
        settings.postgres_dashboard_password.get_secret_value(), "not-the-password"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn, connect_timeout=5)
