"""Submitting and cancelling detection job instances for a benchmark run.

The bench drives the detection area's own entry point with the run's
settings (its topics), and talks to the Flink REST API only to follow and
cancel the job it started.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from fraudstream.config import Settings

log = logging.getLogger(__name__)

RUNNING_TIMEOUT = 120.0


class JobUnavailable(RuntimeError):
    """The detection job cannot be started by the bench (not installed, or lacks an option)."""


@dataclass(frozen=True)
class JobHandle:
    job_id: str
    name: str
    alerts_topic: str


def root_cause(exc: BaseException) -> str:
    """The innermost cause named in an error, Java traces included, in one line."""
    lines = [line.strip() for line in str(exc).splitlines()]
    causes = [line for line in lines if "Exception: " in line or "Error: " in line]
    text = causes[-1] if causes else (lines[0] if lines and lines[0] else repr(exc))
    return text.removeprefix("Caused by: ")[:500]


def fitting_parallelism(settings: Settings, jobs: int) -> int:
    """The job parallelism that lets ``jobs`` bench jobs start in the free task slots.

    The live detection job may hold slots of the same cluster; the bench runs
    next to it with a lower parallelism rather than waiting for slots forever.
    """
    wanted = getattr(settings, "detection_parallelism", None) or settings.flink_parallelism
    try:
        response = requests.get(f"{settings.flink_rest}/overview", timeout=5)
        response.raise_for_status()
        free = int(response.json().get("slots-available", 0))
    except (requests.RequestException, ValueError) as exc:
        raise JobUnavailable(f"Flink REST at {settings.flink_rest} not reachable: {exc}") from exc
    fitting = min(wanted, free // jobs)
    if fitting < 1:
        raise JobUnavailable(
            f"{free} free task slot(s) on the Flink cluster, the bench needs {jobs}: "
            "stop a running job or add a TaskManager"
        )
    if fitting < wanted:
        log.info("bench job parallelism %d (of %d) to fit %d free slots", fitting, wanted, free)
    return fitting


def catalogue_of_pack(pack: str, source: Path | None = None) -> dict[str, Any]:
    """The catalogue (default: the bundled one) reduced to the rules of ``pack``,
    all switched on."""
    from fraudstream.detection.rules import load_catalogue

    catalogue = load_catalogue(source)
    if pack not in catalogue.packs():
        raise JobUnavailable(
            f"the rule catalogue has no {pack!r} pack (packs: {', '.join(catalogue.packs())})"
        )
    rules = [
        rule.model_copy(update={"enabled": True}).model_dump(mode="json")
        for rule in catalogue.rules
        if rule.pack == pack
    ]
    return {"rules": rules}


def submit(
    settings: Settings,
    *,
    name: str,
    pack: str | None = None,
    rules: Path | None = None,
    wait: bool = True,
) -> JobHandle:
    """Submit a detection job on ``settings``' topics and (``wait``) until it runs.

    ``pack=None`` runs the catalogue ``rules`` (default: the bundled one) as
    it is, like ``job submit --rules``; a pack name runs only that pack's
    rules, through a catalogue file handed to the job the same way. Each
    instance gets its own job name and consumer group, so several can read
    one topic side by side.
    """
    try:
        from fraudstream.detection import job as detection
    except ImportError as exc:
        raise JobUnavailable(f"the detection job is not installed ({exc})") from exc
    if "detection_job_name" not in Settings.model_fields:
        raise JobUnavailable("Settings has no detection_job_name; cannot name a second job")
    job_settings = settings.model_copy(
        update={"detection_job_name": name, "detection_group_id": name}
    )
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as folder:
        if pack is not None:
            reduced = catalogue_of_pack(pack, rules)
            rules = Path(folder) / f"{pack}.yaml"
            rules.write_text(yaml.safe_dump(reduced, sort_keys=False))
        log.info("submitting job %s (%s)", name, f"pack {pack}" if pack else "catalogue")
        root = logging.getLogger()
        level = root.level
        try:
            job_id = detection.submit(job_settings, rules=rules)
        except Exception as exc:
            raise JobUnavailable(f"job submission failed: {root_cause(exc)}") from exc
        finally:
            # Importing the PyFlink client (Beam) lowers the root logger to
            # WARNING, which would hide the bench's progress lines.
            root.setLevel(level)
    handle = JobHandle(job_id, name, settings.topic_alerts)
    if wait:
        wait_running(settings, handle)
    return handle


def state(settings: Settings, handle: JobHandle) -> str:
    response = requests.get(f"{settings.flink_rest}/jobs/{handle.job_id}", timeout=5)
    response.raise_for_status()
    return str(response.json().get("state"))


def last_failure(settings: Settings, handle: JobHandle) -> str | None:
    """The job's most recent failure as one line, from its exception history."""
    try:
        response = requests.get(f"{settings.flink_rest}/jobs/{handle.job_id}/exceptions", timeout=5)
        response.raise_for_status()
    except requests.RequestException:
        return None
    entries = (response.json().get("exceptionHistory") or {}).get("entries") or []
    if not entries:
        return None
    trace = str(entries[0].get("stacktrace") or entries[0].get("exceptionName") or "")
    return root_cause(RuntimeError(trace))


def wait_running(settings: Settings, handle: JobHandle, timeout: float = RUNNING_TIMEOUT) -> None:
    """Until every task runs; a job that fails or restarts instead is reported at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(f"{settings.flink_rest}/jobs/{handle.job_id}", timeout=5)
        response.raise_for_status()
        detail = response.json()
        current = str(detail.get("state"))
        if current == "RUNNING" and all(
            v.get("status") == "RUNNING" for v in detail.get("vertices", [])
        ):
            log.info("job %s running as %s", handle.name, handle.job_id)
            return
        if current in ("FAILED", "FAILING", "RESTARTING", "CANCELED", "FINISHED"):
            failure = last_failure(settings, handle) or "no exception recorded"
            raise JobUnavailable(f"job {handle.name} is {current}: {failure}")
        time.sleep(0.5)
    raise JobUnavailable(f"job {handle.name} not running after {timeout:.0f}s")


def cancel(settings: Settings, handle: JobHandle, *, timeout: float = 30.0) -> None:
    """Cancel the job and wait (bounded) until it has ended, so that no sink
    writes after the caller removes the run's rows."""
    try:
        requests.patch(
            f"{settings.flink_rest}/jobs/{handle.job_id}", params={"mode": "cancel"}, timeout=10
        ).raise_for_status()
    except requests.RequestException as exc:
        log.warning("could not cancel job %s: %s", handle.job_id, exc)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if state(settings, handle) in ("CANCELED", "FAILED", "FINISHED"):
                log.info("cancelled job %s (%s)", handle.name, handle.job_id)
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    log.warning("job %s still not ended %.0fs after cancel", handle.job_id, timeout)
