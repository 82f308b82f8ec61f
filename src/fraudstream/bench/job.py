"""Submitting and cancelling detection job instances for a benchmark run.

The bench drives the detection area's own entry point with the run's
settings (its topics), and talks to the Flink REST API only to follow and
cancel the job it started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from fraudstream.config import Settings
from fraudstream.platform import procs

log = logging.getLogger(__name__)

RUNNING_TIMEOUT = 120.0


class JobUnavailable(RuntimeError):
    """The detection job cannot be started by the bench (not installed, or lacks an option)."""


@dataclass(frozen=True)
class JobHandle:
    job_id: str
    name: str
    alerts_topic: str


def submit(settings: Settings, *, name: str, pack: str | None = None) -> JobHandle:
    raise JobUnavailable("the detection job is not part of this installation yet")


def state(settings: Settings, handle: JobHandle) -> str:
    response = requests.get(f"{settings.flink_rest}/jobs/{handle.job_id}", timeout=5)
    response.raise_for_status()
    return str(response.json().get("state"))


def wait_running(settings: Settings, handle: JobHandle, timeout: float = RUNNING_TIMEOUT) -> None:
    procs.wait_until(
        lambda: state(settings, handle) == "RUNNING",
        timeout=timeout,
        component=f"flink job {handle.name}",
        what="state RUNNING",
    )


def cancel(settings: Settings, handle: JobHandle) -> None:
    try:
        requests.patch(
            f"{settings.flink_rest}/jobs/{handle.job_id}", params={"mode": "cancel"}, timeout=10
        ).raise_for_status()
        log.info("cancelled job %s (%s)", handle.name, handle.job_id)
    except requests.RequestException as exc:
        log.warning("could not cancel job %s: %s", handle.job_id, exc)
