"""Where a run's results go: ``results/<timestamp>-<kind>/`` with result.json,
report.md and PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunDir:
    path: Path
    kind: str
    started: datetime

    @classmethod
    def create(cls, root: Path, kind: str, *, now: datetime | None = None) -> RunDir:
        started = now or datetime.now(UTC)
        name = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{kind}"
        path = root / name
        suffix = 1
        while path.exists():
            suffix += 1
            path = root / f"{name}-{suffix}"
        path.mkdir(parents=True)
        return cls(path, kind, started)

    def write_json(self, result: dict[str, Any]) -> Path:
        target = self.path / "result.json"
        target.write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
        return target

    def write_markdown(self, text: str) -> Path:
        target = self.path / "report.md"
        target.write_text(text)
        return target


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # Scores (0..1) and seconds need significant digits, rates and ms do not.
        return f"{value:.3g}" if abs(value) < 10 else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def resources_table(components: Sequence[dict[str, Any]]) -> str:
    rows = []
    for c in components:
        if not c.get("measured"):
            rows.append([c["name"], "not measured", None, None, None])
            continue
        rows.append(
            [c["name"], c["cpu_mean_pct"], c["cpu_max_pct"], c["rss_mean_mib"], c["rss_max_mib"]]
        )
    return table(
        ["component", "CPU mean % of a core", "CPU max %", "RSS mean MiB", "RSS max MiB"], rows
    )


def machine_lines(machine: dict[str, Any]) -> str:
    parts = [
        f"{machine.get('cpus')} CPUs",
        f"{machine.get('memory_gib')} GiB RAM",
        str(machine.get("os", machine.get("system", "?"))),
        f"Java {machine.get('java', '?')}",
        f"Python {machine.get('python')}",
        f"load average at start {machine.get('load_average_at_start')}",
    ]
    return "Machine: " + ", ".join(parts) + "\n"


def job_line(job: dict[str, Any]) -> str:
    if not job.get("available"):
        return ""  # each report says what the missing job means for its figures
    return (
        f"Job: `{job.get('name')}` ({job.get('rules')}), parallelism {job.get('parallelism')}, "
        f"Python operators' parallelism {job.get('python_parallelism') or job.get('parallelism')}, "
        f"state backend {job.get('state_backend')}, "
        f"checkpoint interval {job.get('checkpoint_interval_ms')} ms; "
        f"running {job.get('start_seconds')} s after submission.\n"
    )


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_throughput(steps: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    if not steps:
        return []
    offered = [s["offered_rate"] for s in steps]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (
        ("acked_rate", "producer → Kafka (acked)"),
        ("source_rate", "Kafka → job (offsets committed)"),
        ("archive_rate", "job → archive (rows committed)"),
        ("alert_rate", "alerts published"),
    ):
        values = [s.get(key) for s in steps]
        if any(v is not None for v in values):
            # Log scale: a zero rate is drawn at the floor.
            ax.plot(offered, [max(v or 0, 0.1) for v in values], marker="o", label=label)
    ax.plot(offered, offered, linestyle=":", color="grey", label="offered")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.1)
    ax.set_xlabel("offered rate (tx/s)")
    ax.set_ylabel("rate (records/s)")
    ax.set_title("Throughput per stage")
    ax.legend(fontsize=8)
    paths = [save(fig, out / "throughput.png")]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    positions = list(range(len(steps)))
    ax.bar(positions, [s["backlog_max_seconds"] for s in steps], color="tab:red")
    ax.set_xticks(positions)
    ax.set_xticklabels([str(o) for o in offered])
    ax.set_xlabel("offered rate (tx/s)")
    ax.set_ylabel("max backlog (seconds of traffic)")
    ax.set_title("Job backlog: in Kafka, not yet archived")
    paths.append(save(fig, out / "backlog.png"))
    return paths


def plot_cpu(components: Sequence[dict[str, Any]], out: Path, name: str) -> list[Path]:
    measured = [c for c in components if c.get("measured")]
    if not measured:
        return []
    fig, ax1 = plt.subplots(figsize=(7, 3.5))
    positions = list(range(len(measured)))
    ax1.bar(positions, [c["cpu_mean_pct"] for c in measured], color="tab:blue")
    ax1.set_xticks(positions)
    ax1.set_xticklabels([c["name"] for c in measured], rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("CPU mean (% of one core)")
    ax2 = ax1.twinx()
    ax2.plot(positions, [c["rss_max_mib"] for c in measured], "o", color="tab:orange")
    ax2.set_ylabel("RSS max (MiB)", color="tab:orange")
    ax1.set_title("CPU and memory per component")
    return [save(fig, out / name)]


def plot_latency(series: dict[str, Sequence[float]], out: Path) -> list[Path]:
    present = {k: v for k, v in series.items() if v}
    if not present:
        return []
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, samples in present.items():
        ordered = sorted(samples)
        n = len(ordered)
        ax.plot(ordered, [(i + 1) / n for i in range(n)], label=f"{label} (n={n})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of transactions")
    ax.set_title("Latency from append to Kafka (CDF)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return [save(fig, out / "latency_cdf.png")]


def plot_quality(
    scores: dict[str, dict[str, dict[str, Any]]], out: Path, name: str, title: str
) -> list[Path]:
    """Grouped bars: F1 per scenario (or rule) for each rule set."""
    keys = sorted({k for per in scores.values() for k in per})
    if not keys:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), sharey=True)
    width = 0.8 / max(1, len(scores))
    for axis, metric in zip(axes, ("precision", "recall", "f1"), strict=True):
        for index, (ruleset, per) in enumerate(scores.items()):
            values = [(per.get(k) or {}).get(metric) or 0 for k in keys]
            positions = [i + index * width for i in range(len(keys))]
            axis.bar(positions, values, width=width, label=ruleset)
        axis.set_xticks([i + width * (len(scores) - 1) / 2 for i in range(len(keys))])
        axis.set_xticklabels(keys, rotation=40, ha="right", fontsize=7)
        axis.set_title(metric)
        axis.set_ylim(0, 1.05)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return [save(fig, out / name)]
