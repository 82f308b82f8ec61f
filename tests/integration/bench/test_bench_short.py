"""The short mode of each bench command, end to end: its own topics and job,
real traffic, result.json + report.md + plots, and nothing left behind.

Figures are not asserted (they depend on the machine); their presence is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from fraudstream.platform.procs import wait_until

Runner = Callable[..., tuple[int, dict[str, Any], Path]]


def _no_bench_topics_left(admin: AdminClient, result: dict[str, Any]) -> None:
    prefix = result["job"]["name"] + "-"

    def gone() -> bool:
        return not any(t.startswith(prefix) for t in admin.list_topics(timeout=10).topics)

    # Deletion reaches every broker's metadata a moment later.
    wait_until(gone, timeout=30, component="kafka", what=f"bench topics {prefix}* deleted")


@pytest.mark.timeout(300)
def test_latency_short(run_bench: Runner, admin: AdminClient) -> None:
    code, result, folder = run_bench("latency", "--rate", "200")
    assert code == 0, result["job"]
    assert result["alert_visible_ms"]["count"] > 0
    assert result["archive_visible_ms"]["count"] > 0
    assert result["rows_missing"] == 0
    assert result["alerts_missing"] == 0
    alert = result["alert_visible_ms"]
    assert 0 < alert["p50"] <= alert["p95"] <= alert["p99"] <= alert["max"]
    assert {"report.md", "latency_cdf.png"} <= {p.name for p in folder.iterdir()}
    assert "(a) alert visible" in (folder / "report.md").read_text()
    _no_bench_topics_left(admin, result)


@pytest.mark.timeout(300)
def test_throughput_short(run_bench: Runner, admin: AdminClient) -> None:
    code, result, folder = run_bench("throughput", "--rates", "300,1000", "--step-seconds", "6")
    assert code == 0, result["job"]
    assert [s["offered_rate"] for s in result["steps"]][:1] == [300]
    first = result["steps"][0]
    assert first["acked_rate"] > 0 and first["archive_rate"] > 0
    assert first["drain_seconds"] is not None
    measured = [c["name"] for c in result["resources"] if c.get("measured")]
    assert "bench-client" in measured
    assert {"throughput.png", "backlog.png", "report.md"} <= {p.name for p in folder.iterdir()}
    _no_bench_topics_left(admin, result)


@pytest.mark.timeout(300)
def test_quality_short_with_baseline(run_bench: Runner, admin: AdminClient) -> None:
    code, result, folder = run_bench("quality")
    assert code == 0, result["job"]
    assert result["stream"]["fraud_transactions"] > 0
    assert set(result["rule_sets"]) == {"catalogue", "seed-baseline"}, result.get("baseline")
    catalogue = result["rule_sets"]["catalogue"]
    assert set(catalogue["per_scenario"]) == set(result["stream"]["scenarios"])
    assert catalogue["overall"]["positives"] == sum(result["stream"]["scenarios"].values())
    assert catalogue["alerts"] > 0
    assert result["archived"] == result["stream"]["transactions"]
    assert "seed-baseline" in (folder / "report.md").read_text()
    _no_bench_topics_left(admin, result)


@pytest.mark.timeout(300)
def test_drain_short(run_bench: Runner, admin: AdminClient) -> None:
    code, result, folder = run_bench("drain", "--transactions", "3000")
    assert code == 0, result["job"]
    assert result["produced"] == 3000
    assert result["archived"] == 3000 and result["drain_seconds"] is not None
    # A backlog this small may be gone before the first poll: no rate then.
    assert result["overall_rate"] is None or result["overall_rate"] > 0
    assert result["alerts"] >= 1  # one in 1,000 is above the high-amount limit
    assert "all archived after" in (folder / "report.md").read_text()
    _no_bench_topics_left(admin, result)
