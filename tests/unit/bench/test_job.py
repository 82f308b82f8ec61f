from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml

from fraudstream.bench.job import JobUnavailable, catalogue_of_pack, fitting_parallelism, root_cause
from fraudstream.bench.session import run_settings
from fraudstream.config import Settings
from fraudstream.detection.rules import load_catalogue, parse_catalogue


def test_root_cause_picks_the_innermost_java_exception() -> None:
    trace = (
        "An error occurred while calling o56.executeSql.\n"
        ": org.apache.flink.table.api.ValidationException: SQL validation failed.\n"
        "\tat org.apache.flink.Foo.bar(Foo.java:1)\n"
        "Caused by: org.apache.calcite.SqlValidatorException: Object 'x' not found\n"
    )
    assert (
        root_cause(RuntimeError(trace))
        == "org.apache.calcite.SqlValidatorException: Object 'x' not found"
    )
    assert root_cause(RuntimeError("plain")) == "plain"


def test_catalogue_of_pack_keeps_only_that_pack_switched_on(tmp_path: Path) -> None:
    reduced = catalogue_of_pack("seed-baseline")
    assert reduced["rules"]
    assert all(rule["pack"] == "seed-baseline" and rule["enabled"] for rule in reduced["rules"])
    # What the job will load from the file it is handed.
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump(reduced))
    catalogue = load_catalogue(path)
    assert {r.id for r in catalogue.enabled()} == {r["id"] for r in reduced["rules"]}
    assert parse_catalogue(reduced).packs() == ("seed-baseline",)


def test_run_settings_use_their_own_topics() -> None:
    base = Settings()
    run = run_settings(base, "abc")
    names = {run.topic_transactions, run.topic_alerts, run.topic_dlq, run.topic_labels}
    assert len(names) == 4
    assert all(name.startswith("bench-abc-") for name in names)
    assert base.topic_transactions not in names


class _Overview:
    def __init__(self, free: int) -> None:
        self.free = free

    def raise_for_status(self) -> None:
        pass

    def json(self) -> dict[str, int]:
        return {"slots-available": self.free}


@pytest.mark.parametrize(("free", "jobs", "expected"), [(8, 1, 3), (3, 2, 1), (4, 2, 2), (2, 1, 2)])
def test_parallelism_fits_the_free_slots(
    monkeypatch: pytest.MonkeyPatch, free: int, jobs: int, expected: int
) -> None:
    monkeypatch.setattr(requests, "get", lambda *a, **k: _Overview(free))
    assert fitting_parallelism(Settings(flink_parallelism=3), jobs) == expected


def test_no_free_slot_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", lambda *a, **k: _Overview(1))
    with pytest.raises(JobUnavailable, match="free task slot"):
        fitting_parallelism(Settings(), 2)
