"""Ordered SQL migrations, applied once each.

Files in ``archive/migrations`` named ``NNN_name.sql`` are applied in numeric
order, each in its own transaction, and recorded in ``schema_migrations``
with a checksum. Re-running applies nothing; an applied file that was edited
afterwards is reported rather than silently re-run.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d+)_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every migrator.
_LOCK_ID = 0x46524155


@dataclass(frozen=True, order=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


class MigrationError(RuntimeError):
    pass


def migrations_dir() -> Path:
    return Path(str(resources.files("fraudstream.archive") / "migrations"))


def discover(directory: Path | None = None) -> list[Migration]:
    """Migration files in version order; rejects bad names and duplicate versions."""
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name!r} is not named NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"two migrations share version {version}: {found[version].path.name}, {path.name}"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[int, str]:
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {int(str(v)): str(c) for v, c in rows}


def migrate(dsn: str, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations; returns those applied by this call."""
    pending_all = discover(directory)
    done: list[Migration] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            have = applied(conn)
            for migration in pending_all:
                if migration.version in have:
                    if have[migration.version] != migration.checksum:
                        log.warning(
                            "migration %s changed after it was applied; add a new one instead",
                            migration.path.name,
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %s", migration.path.name)
                done.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return done
