"""CPU and memory of each stack component while a benchmark runs.

Components are found through the pid files the local stack writes
(``Stack(settings).process(name).pid()``); a component's figure includes its
child processes (PostgreSQL backends). Components the stack does not run
locally (an external cluster) are reported as not measured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from fraudstream.config import Settings
from fraudstream.platform.stack import Stack

log = logging.getLogger(__name__)

BENCH_PROCESS = "bench-client"


@dataclass
class Usage:
    """Samples of one component: CPU in % of one core, RSS in MiB."""

    name: str
    pid: int | None
    cpu: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        if not self.cpu:
            return {"name": self.name, "pid": self.pid, "measured": False}
        return {
            "name": self.name,
            "pid": self.pid,
            "measured": True,
            "cpu_mean_pct": round(sum(self.cpu) / len(self.cpu), 1),
            "cpu_max_pct": round(max(self.cpu), 1),
            "rss_mean_mib": round(sum(self.rss_mib) / len(self.rss_mib), 1),
            "rss_max_mib": round(max(self.rss_mib), 1),
            "samples": len(self.cpu),
        }


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


class ResourceSampler:
    """Samples every component's CPU and RSS every ``interval`` seconds in a thread.

    CPU is measured as the difference of cumulative CPU times between two
    samples, so processes that come and go (PostgreSQL backends) are counted
    for the time they lived.
    """

    def __init__(self, settings: Settings, *, interval: float = 1.0) -> None:
        self.interval = interval
        stack = Stack(settings)
        self.pids: dict[str, int | None] = {}
        for name in stack.component_names():
            pid = stack.process(name).pid()
            self.pids[name] = pid if pid is not None and psutil.pid_exists(pid) else None
        self.pids[BENCH_PROCESS] = os.getpid()
        self.usage = {name: Usage(name, pid) for name, pid in self.pids.items()}
        self._last: dict[str, tuple[float, dict[int, float]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _cpu_seconds(self, pid: int, *, children: bool = True) -> tuple[dict[int, float], float]:
        times: dict[int, float] = {}
        rss = 0.0
        for proc in _tree(pid) if children else [psutil.Process(pid)]:
            with contextlib.suppress(psutil.Error):
                cpu = proc.cpu_times()
                times[proc.pid] = cpu.user + cpu.system
                rss += proc.memory_info().rss
        return times, rss / (1024 * 1024)

    def sample(self) -> None:
        now = time.monotonic()
        for name, pid in self.pids.items():
            if pid is None:
                continue
            try:
                # The bench's own children are the PyFlink client's JVM, idle
                # once the job is submitted: not part of the load generator.
                times, rss = self._cpu_seconds(pid, children=name != BENCH_PROCESS)
            except psutil.Error:
                continue
            previous = self._last.get(name)
            self._last[name] = (now, times)
            if previous is None:
                continue
            then, before = previous
            elapsed = now - then
            if elapsed <= 0:
                continue
            # A process that appeared since the last sample counts from zero.
            used = sum(t - before.get(p, 0.0) for p, t in times.items())
            self.usage[name].cpu.append(max(0.0, used / elapsed * 100))
            self.usage[name].rss_mib.append(rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a sampler must never stop the benchmark
                log.debug("resource sample failed", exc_info=True)

    def __enter__(self) -> ResourceSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def mark(self) -> dict[str, int]:
        """Sample counts now, to summarise a window later with ``summary(since=...)``."""
        return {name: len(u.cpu) for name, u in self.usage.items()}

    def summary(self, since: dict[str, int] | None = None) -> list[dict[str, Any]]:
        result = []
        for name, usage in self.usage.items():
            start = (since or {}).get(name, 0)
            window = Usage(usage.name, usage.pid, usage.cpu[start:], usage.rss_mib[start:])
            result.append(window.summary())
        return result


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    memory = psutil.virtual_memory()
    info: dict[str, Any] = {
        "cpus": psutil.cpu_count(logical=True),
        "memory_gib": round(memory.total / 1024**3, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip('"')
    with contextlib.suppress(Exception):
        from fraudstream.platform import jvm

        info["java"] = jvm.java_version()
    return info


def as_dict(usage: Usage) -> dict[str, Any]:
    return asdict(usage)
