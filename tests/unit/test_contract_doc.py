"""docs/CONTRACT.md states the contract the code enforces: every reason a
record can be rejected with, and every flag it can be archived with."""

from __future__ import annotations

import re
from pathlib import Path

from fraudstream import records
from fraudstream.detection.engine import dedupe

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONTRACT.md"


def _table_keys(section: str) -> list[str]:
    """The first-column codes of the table under ``## {section}``."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE)


def test_the_page_lists_exactly_the_rejection_reasons_of_the_code() -> None:
    assert sorted(_table_keys("Rejected")) == sorted((*records.REJECT_REASONS, dedupe.REASON))


def test_the_page_lists_exactly_the_quality_flags_of_the_code() -> None:
    assert sorted(_table_keys("Flagged")) == sorted(records.QUALITY_FLAGS)


def test_the_page_shows_the_limits_of_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"longer than {records.MAX_RECORD_BYTES} bytes" in text
    assert f"{int(records.MAX_FUTURE.total_seconds() // 60)} minutes" in text
    assert f"{records.MAX_AMOUNT:,.0f}" in text
