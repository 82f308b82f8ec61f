"""A postmaster.pid left by a killed server does not block the next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fraudstream.config import Settings
from fraudstream.platform import postgres


def _lock(settings: Settings, pid: int) -> Path:
    lock = postgres.data_dir(settings) / "postmaster.pid"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{pid}\n/data\n1700000000\n5432\n")
    return lock


def test_lock_held_by_a_recycled_pid_is_removed(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    lock = _lock(settings, os.getpid())  # alive, and not a postgres server
    assert postgres.clear_stale_lock(settings)
    assert not lock.exists()


def test_lock_of_a_dead_pid_is_left_to_postgres(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings = Settings(home=tmp_path)
    lock = _lock(settings, int(child.stdout))
    assert not postgres.clear_stale_lock(settings)
    assert lock.exists()


def test_no_lock(tmp_path: Path) -> None:
    assert not postgres.clear_stale_lock(Settings(home=tmp_path))
