from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.archive import migrate


def test_bundled_migrations_are_ordered_and_start_with_transactions() -> None:
    found = migrate.discover()
    versions = [m.version for m in found]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert found[0].name == "transactions"
    assert "transaction_id    TEXT PRIMARY KEY" in found[0].sql


def test_numeric_not_lexical_order(tmp_path: Path) -> None:
    for name in ("10_b.sql", "2_a.sql", "001_c.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    assert [m.version for m in migrate.discover(tmp_path)] == [1, 2, 10]


def test_bad_name_rejected(tmp_path: Path) -> None:
    (tmp_path / "create-things.sql").write_text("")
    with pytest.raises(migrate.MigrationError, match=r"NNN_name\.sql"):
        migrate.discover(tmp_path)


def test_duplicate_version_rejected(tmp_path: Path) -> None:
    (tmp_path / "003_a.sql").write_text("")
    (tmp_path / "3_b.sql").write_text("")
    with pytest.raises(migrate.MigrationError, match="share version 3"):
        migrate.discover(tmp_path)
