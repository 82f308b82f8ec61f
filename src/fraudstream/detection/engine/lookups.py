"""Reference data rules look up: the block list, as a refreshed snapshot.

The snapshot is re-read every ``refresh_s``; while PostgreSQL is away the
last good snapshot keeps serving (and a warning is logged once per outage),
so a database outage never stops detection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

Entries = Mapping[tuple[str, str], str]


def load_blocklist(dsn: str, max_rows: int) -> dict[tuple[str, str], str]:
    """Every (kind, value) -> reason of the ``blocklist`` table."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT kind, value, reason FROM blocklist ORDER BY added_at DESC LIMIT %s",
            (max_rows,),
        ).fetchall()
    return {(kind, value): reason for kind, value, reason in rows}


class BlocklistCache:
    def __init__(self, dsn: str, refresh_s: int, max_rows: int) -> None:
        self._dsn = dsn
        self._refresh_s = refresh_s
        self._max_rows = max_rows
        self._entries: Entries = {}
        self._next = 0.0
        self._failing = False

    def entries(self) -> Entries:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._refresh_s
            try:
                self._entries = load_blocklist(self._dsn, self._max_rows)
                if self._failing:
                    log.info("block list readable again: %d entries", len(self._entries))
                self._failing = False
            except Exception as exc:  # any failure: keep serving the last snapshot
                if not self._failing:
                    log.warning(
                        "block list not refreshed, keeping %d entries: %s", len(self._entries), exc
                    )
                self._failing = True
        return self._entries
