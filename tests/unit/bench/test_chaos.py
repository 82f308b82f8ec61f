from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.bench import chaos
from fraudstream.config import Settings


def test_a_controller_is_killed_only_with_a_quorum(tmp_path: Path) -> None:
    one = Settings(home=tmp_path)
    three = Settings(home=tmp_path, kafka_controllers=3)
    assert "controller" not in chaos.applicable_faults(one, chaos.DEFAULT_ORDER)
    assert chaos.applicable_faults(three, chaos.DEFAULT_ORDER) == chaos.DEFAULT_ORDER
    with pytest.raises(ValueError, match="unknown fault"):
        chaos.applicable_faults(one, ("disk",))


def _result() -> dict[str, object]:
    return {
        "machine": {"cpus": 2},
        "job": {"available": True, "name": "bench-x"},
        "options": {"seed": 42, "rate": 1000.0, "current_within": 5.0},
        "stream": {"expected_alerts": 12},
        "kafka_controllers": 1,
        "supervisor": "this run",
        "command": "fraudstream bench chaos",
        "faults": [
            {
                "fault": "taskmanager",
                "process": "flink-taskmanager",
                "restart_seconds": 1.2,
                "recovery_seconds": 21.0,
                "recovered": True,
            },
            {"fault": "broker", "process": "kafka-broker-2", "skipped": "not running"},
        ],
        "reconciliation": {
            "produced": 1000,
            "delivery_failures": 0,
            "archived": 1000,
            "lost": 0,
            "lost_examples": [],
            "unexpected_rows": 0,
            "duplicate_rows": 0,
            "expected_alerts": 12,
            "received_alerts": 11,
            "alert_emissions": 15,
            "duplicate_alert_emissions": 4,
            "missing_alerts": 1,
            "missing_alert_examples": ["a"],
            "unexpected_alerts": 0,
            "per_fault": {"taskmanager": {"missing_alerts": 1}},
        },
        "alert_latency_ms": {"taskmanager": {"p50": 9000.0, "max": 15000.0}},
    }


def test_summary_names_each_fault_and_the_totals() -> None:
    lines = chaos.summary_lines(_result())
    assert lines[0].startswith("taskmanager") and "recovered in 21.0 s" in lines[0]
    assert "missing alerts 1" in lines[0]
    assert "skipped" in lines[1]
    assert "11/12 expected received" in lines[2]


def test_markdown_has_the_fault_table_and_the_reconciliation() -> None:
    text = chaos.markdown(_result(), [])
    assert "| taskmanager | flink-taskmanager | 1.2 | 21.0 | 0 | 1 |" in text
    assert "## Reconciliation" in text
    assert "missing alert examples: ['a']" in text
