"""What each component's PostgreSQL role may do in the archive.

The schema owner (``postgres_user``) runs the migrations and owns every table.
The detection job and the dashboard connect as roles of their own, granted
exactly what they use; ``apply`` (re)grants it, run as the owner after each
migration run so tables added later are covered too.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

# The tables the detection job's sinks upsert into (INSERT ... ON CONFLICT DO
# UPDATE needs SELECT and UPDATE as well as INSERT).
JOB_WRITES = ("transactions", "alerts", "rejected_records")
# What the job only reads: the block list its rules look up.
JOB_READS = ("blocklist",)
# The only table the dashboard writes: analysts' verdicts (an upsert).
DASHBOARD_WRITES = ("alert_triage",)


@dataclass(frozen=True)
class Grant:
    """One GRANT statement: privileges on tables (None: every table) to a role."""

    privileges: tuple[str, ...]
    tables: tuple[str, ...] | None
    role: str

    def statement(self) -> sql.Composed:
        privileges = sql.SQL(", ").join(sql.SQL(p) for p in self.privileges)
        target: sql.Composable
        if self.tables is None:
            target = sql.SQL("ALL TABLES IN SCHEMA public")
        else:
            target = sql.SQL("TABLE ") + sql.SQL(", ").join(sql.Identifier(t) for t in self.tables)
        return sql.SQL("GRANT {} ON {} TO {}").format(privileges, target, sql.Identifier(self.role))


def grants(job_role: str, dashboard_role: str) -> list[Grant]:
    """Every grant of the job and dashboard roles."""
    return [
        Grant(("SELECT", "INSERT", "UPDATE"), JOB_WRITES, job_role),
        Grant(("SELECT",), JOB_READS, job_role),
        Grant(("SELECT",), None, dashboard_role),
        Grant(("INSERT", "UPDATE"), DASHBOARD_WRITES, dashboard_role),
    ]


def apply(owner_dsn: str, job_role: str, dashboard_role: str) -> None:
    """Revoke what the two roles hold on the schema's tables, then grant their set.

    Starting from nothing keeps a privilege dropped from ``grants`` from
    lingering on a database that had it.
    """
    with psycopg.connect(owner_dsn, autocommit=True) as conn, conn.transaction():
        for role in (job_role, dashboard_role):
            ident = sql.Identifier(role)
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(ident))
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        for grant in grants(job_role, dashboard_role):
            conn.execute(grant.statement())
