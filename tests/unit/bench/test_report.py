from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fraudstream.bench import latency, quality, report, throughput


def test_run_dir_names_are_unique_and_sortable(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = report.RunDir.create(tmp_path, "latency", now=now)
    second = report.RunDir.create(tmp_path, "latency", now=now)
    assert first.path.name == "20260102T030405Z-latency"
    assert second.path != first.path
    first.write_json({"a": 1})
    assert (first.path / "result.json").read_text().strip().startswith("{")


def test_table_formats_missing_values() -> None:
    text = report.table(["a", "b"], [[1234, None], [0.5, True]])
    assert "| 1,234 | – |" in text
    assert "| 0.5 | yes |" in text


MACHINE = {"cpus": 2, "memory_gib": 24.0, "os": "Debian", "java": 17, "python": "3.11"}


def _resources() -> list[dict[str, object]]:
    return [
        {
            "name": "kafka-broker-1",
            "pid": 1,
            "measured": True,
            "cpu_mean_pct": 10.0,
            "cpu_max_pct": 20.0,
            "rss_mean_mib": 500.0,
            "rss_max_mib": 510.0,
            "samples": 3,
        },
        {"name": "postgres", "pid": None, "measured": False},
    ]


def test_throughput_report_and_plots(tmp_path: Path) -> None:
    run = report.RunDir.create(tmp_path, "throughput")
    step = {
        "offered_rate": 1000,
        "seconds": 8.0,
        "acked_rate": 998.0,
        "kafka_rate": 998.0,
        "source_rate": 990.0,
        "archive_rate": 985.0,
        "alert_rate": 1.5,
        "backlog_max_seconds": 0.5,
        "drain_seconds": 1.0,
        "sustained": True,
        "verdict": "ok",
        "resources": _resources(),
    }
    result = {
        "machine": MACHINE,
        "job": {"available": True, "detail": None},
        "options": {"step_seconds": 8.0},
        "steps": [step, {**step, "offered_rate": 2000}],
        "max_sustained_rate": 2000,
        "max_acked_rate": 998.0,
        "resources": _resources(),
        "drain": {"caught_up": True, "seconds": 1.0, "backlog": 0},
    }
    images = throughput.plots(result, run)
    assert {"throughput.png", "backlog.png", "resources.png"} <= set(images)
    text = throughput.markdown(result, images)
    assert "Highest sustained rate: **2,000 tx/s**" in text
    assert "not measured" in text
    assert all((run.path / name).stat().st_size > 1000 for name in images)


def test_reports_say_when_the_job_is_not_available(tmp_path: Path) -> None:
    missing = {"available": False, "detail": "no detection job"}
    lat = latency.markdown({"machine": MACHINE, "job": missing, "options": {}}, [])
    assert "not available" in lat and "no detection job" in lat
    qual = quality.markdown(
        {
            "machine": MACHINE,
            "job": missing,
            "options": {},
            "stream": {"available": False, "detail": "simulator missing"},
        },
        [],
    )
    assert "not available" in qual


def test_latency_plot(tmp_path: Path) -> None:
    run = report.RunDir.create(tmp_path, "latency")
    result = {
        "samples": {"alert_visible_ms": [5.0, 7.0, 90.0], "archive_visible_ms": [100.0, 200.0]},
        "resources": [],
    }
    assert latency.plots(result, run) == ["latency_cdf.png"]
