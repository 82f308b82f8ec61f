"""`bench chaos --short`: one fault (the TaskManager, SIGKILL) under labelled
traffic, restarted by the run's supervisor; every transaction archived once
and every expected alert received. Recovery time is reported, not asserted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from fraudstream.platform.stack import Stack

from .test_bench_short import _no_bench_topics_left

Runner = Callable[..., tuple[int, dict[str, Any], Path]]


@pytest.mark.timeout(600)
def test_chaos_short_kills_the_taskmanager_and_loses_nothing(
    run_bench: Runner, admin: AdminClient, stack: Stack
) -> None:
    old = stack.process("flink-taskmanager").pid()
    code, result, folder = run_bench("chaos")
    assert code == 0, result["job"]
    [fault] = result["faults"]
    assert fault["fault"] == "taskmanager" and "skipped" not in fault, fault
    assert fault["restart_seconds"] is not None
    assert fault["recovered"], fault
    rec = result["reconciliation"]
    assert rec["produced"] > 0 and rec["delivery_failures"] == 0
    assert rec["lost"] == 0, rec["lost_examples"]
    assert rec["duplicate_rows"] == 0 and rec["unexpected_rows"] == 0
    assert rec["expected_alerts"] > 0
    assert rec["missing_alerts"] == 0, rec["missing_alert_examples"]
    assert result["restarts"]["flink-taskmanager"]["restarts"] == 1
    report = (folder / "report.md").read_text()
    assert "Reconciliation" in report and "taskmanager" in report
    # The session stack is whole again for the tests that follow.
    tm = stack.process("flink-taskmanager")
    assert tm.alive() and tm.pid() != old
    _no_bench_topics_left(admin, result)
