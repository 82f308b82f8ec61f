"""The archive database answers and its migrations apply exactly once."""

from __future__ import annotations

import psycopg

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
