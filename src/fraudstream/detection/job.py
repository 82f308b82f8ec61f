"""The detection job's lifecycle on the Flink session cluster: submit, status, stop, cancel.

Submission builds the graph of ``pipeline.build`` in a PyFlink client and
hands it to the cluster; the rest talks to the cluster's REST API. The
last savepoint taken by ``stop`` is remembered under the runtime folder, so
``submit --from-savepoint latest`` resumes from it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import requests

from fraudstream.config import Settings
from fraudstream.detection import pipeline
from fraudstream.detection.rules import load_catalogue
from fraudstream.platform import flink, flinkclient

log = logging.getLogger(__name__)

ACTIVE_STATES: Final = frozenset(
    {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING", "FAILING", "CANCELLING"}
)
_TIMEOUT: Final = 10.0


class JobError(RuntimeError):
    """The cluster refused or failed an operation on the job."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str
    start_time_ms: int
    duration_ms: int


def _get(settings: Settings, path: str, params: dict[str, str] | None = None) -> Any:
    response = requests.get(f"{settings.flink_rest}{path}", params=params, timeout=_TIMEOUT)
    response.raise_for_status()
    return response.json()


def jobs(settings: Settings) -> list[JobInfo]:
    """Every job the cluster knows, newest first."""
    data = _get(settings, "/jobs/overview")
    found = [
        JobInfo(
            job_id=j["jid"],
            name=j["name"],
            state=j["state"],
            start_time_ms=int(j.get("start-time", 0)),
            duration_ms=int(j.get("duration", 0)),
        )
        for j in data.get("jobs", [])
    ]
    return sorted(found, key=lambda j: j.start_time_ms, reverse=True)


def active_job(settings: Settings) -> JobInfo | None:
    """The running (or starting/restarting) job named ``settings.detection_job_name``."""
    for job in jobs(settings):
        if job.name == settings.detection_job_name and job.state in ACTIVE_STATES:
            return job
    return None


def state_file(settings: Settings) -> Path:
    return settings.home / "detection" / f"{settings.detection_job_name}.savepoint"


def remember_savepoint(settings: Settings, location: str) -> None:
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(location + "\n")


def _jobs_file(settings: Settings) -> Path:
    return settings.home / "detection" / f"{settings.detection_job_name}.job-id"


def remember_job(settings: Settings, job_id: str) -> None:
    path = _jobs_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(job_id + "\n")


@dataclass(frozen=True)
class ResumePoint:
    location: str
    kind: str  # "savepoint" or "checkpoint"


def resume_point(settings: Settings) -> ResumePoint | None:
    """Where a plain ``job submit`` resumes: the newer of the savepoint the last
    ``job stop`` took and the newest checkpoint the last submitted job
    retained (local cluster only: its checkpoint folder is ours to read)."""
    found: list[tuple[float, ResumePoint]] = []
    savepoint = latest_savepoint(settings)
    if savepoint is not None:
        found.append((state_file(settings).stat().st_mtime, ResumePoint(savepoint, "savepoint")))
    if settings.flink_local:
        try:
            job_id = _jobs_file(settings).read_text().strip()
        except FileNotFoundError:
            job_id = ""
        if job_id:
            metadata = sorted(
                flink.checkpoint_dir(settings).joinpath(job_id).glob("chk-*/_metadata"),
                key=lambda p: p.stat().st_mtime,
            )
            if metadata:
                newest = metadata[-1]
                found.append(
                    (newest.stat().st_mtime, ResumePoint(newest.parent.as_uri(), "checkpoint"))
                )
    return max(found, key=lambda item: item[0])[1] if found else None


def latest_savepoint(settings: Settings) -> str | None:
    try:
        text = state_file(settings).read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def submit(
    settings: Settings,
    *,
    rules: Path | None = None,
    savepoint: str | None = None,
    allow_dropped_state: bool = False,
) -> str:
    """Plan the job for the catalogue at ``rules`` and submit it; return the job id.

    From a savepoint, Flink refuses state it cannot map to an operator of the
    new job (the job then fails with the operator named, see ``wait_running``)
    unless ``allow_dropped_state``.
    """
    catalogue = load_catalogue(rules)
    config = pipeline.job_config(settings)
    if savepoint is not None:
        config["execution.state-recovery.path"] = savepoint
        if allow_dropped_state:
            config["execution.state-recovery.ignore-unclaimed-state"] = "true"
    env, t_env = flinkclient.stream_env(settings, config=config)
    statements = pipeline.build(settings, catalogue, t_env)
    statements.attach_as_datastream()
    client = env.execute_async(settings.detection_job_name)
    job_id = str(client.get_job_id())
    remember_job(settings, job_id)
    log.info(
        "submitted %s as job %s (%d rules%s)",
        settings.detection_job_name,
        job_id,
        len(catalogue.enabled()),
        f", from {savepoint}" if savepoint else "",
    )
    return job_id


def wait_running(settings: Settings, job_id: str, *, timeout: float = 120.0) -> None:
    """Until every task of the job is RUNNING (sources are reading)."""

    def running() -> bool:
        detail = _get(settings, f"/jobs/{job_id}")
        if detail["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise JobError(f"job {job_id} is {detail['state']}{_failure(settings, job_id)}")
        return detail["state"] == "RUNNING" and all(
            v["status"] == "RUNNING" for v in detail.get("vertices", [])
        )

    _poll(running, timeout, f"job {job_id} running")


DROPPED_STATE_HINT: Final = (
    "the savepoint holds state that the new job has no operator for, and restoring would drop it"
)


def _failure(settings: Settings, job_id: str) -> str:
    """Why the job failed, in a sentence; a refused restore names the flag that accepts it."""
    try:
        history = _get(settings, f"/jobs/{job_id}/exceptions")
    except requests.RequestException:
        return ""
    trace = str(
        (history.get("exceptionHistory", {}).get("entries") or [{}])[0].get("stacktrace", "")
    )
    if not trace:
        trace = str(history.get("root-exception") or "")
    if "Cannot map checkpoint/savepoint state for operator" in trace:
        operator = trace.split("for operator", 1)[1].split(" to the new program", 1)[0].strip()
        return (
            f": {DROPPED_STATE_HINT} (operator {operator}). Pass --allow-dropped-state to "
            "accept the loss, or submit the previous catalogue"
        )
    first = next((line for line in trace.splitlines() if line.strip()), "")
    return f": {first[:300]}" if first else ""


def _poll(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise JobError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_with_savepoint(settings: Settings, job_id: str, *, timeout: float = 180.0) -> str:
    """Stop the job with a savepoint; remember and return its location."""
    body: dict[str, Any] = {"drain": False, "formatType": "CANONICAL"}
    if settings.flink_local:
        body["targetDirectory"] = flink.savepoint_dir(settings).as_uri()
    response = requests.post(
        f"{settings.flink_rest}/jobs/{job_id}/stop", json=body, timeout=_TIMEOUT
    )
    if response.status_code >= 400:
        raise JobError(f"stop of job {job_id} refused: {response.text[:500]}")
    trigger = response.json()["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _get(settings, f"/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status.get("operation", {})
            if "failure-cause" in operation:
                cause = operation["failure-cause"].get("stack-trace", "")
                raise JobError(f"savepoint of job {job_id} failed: {cause[:2000]}")
            location = str(operation["location"])
            remember_savepoint(settings, location)
            return location
        time.sleep(0.5)
    raise JobError(f"savepoint of job {job_id} not complete after {timeout:.0f}s")


def cancel(settings: Settings, job_id: str) -> None:
    response = requests.patch(
        f"{settings.flink_rest}/jobs/{job_id}", params={"mode": "cancel"}, timeout=_TIMEOUT
    )
    if response.status_code >= 400 and response.status_code != 404:
        raise JobError(f"cancel of job {job_id} refused: {response.text[:500]}")


def wait_terminal(settings: Settings, job_id: str, *, timeout: float = 60.0) -> str:
    result: dict[str, str] = {}

    def done() -> bool:
        state = str(_get(settings, f"/jobs/{job_id}")["state"])
        result["state"] = state
        return state in ("FAILED", "CANCELED", "FINISHED")

    _poll(done, timeout, f"job {job_id} to end")
    return result["state"]


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    name: str
    state: str
    uptime_ms: int
    checkpoints_completed: int
    checkpoints_failed: int
    last_checkpoint: str | None
    last_checkpoint_age_ms: int | None
    records_in: int
    records_out: dict[str, int]
    out_of_order: int = 0
    """transactions older than their card's (or user's) latest, evaluated all the same"""
    alerts_raised: int = 0
    alert_updates: int = 0
    """later hits of an open episode, published as the same alert again"""
    unjudged: int = 0
    """transactions a rule could not judge (impossible_travel: a country without coordinates)"""
    duplicates_dropped: int = 0
    """identical repeats of a transaction id, dropped"""
    duplicates_rejected: int = 0
    """other records under a transaction id seen before, sent to the DLQ"""


ENGINE_METRICS: Final = (
    ".outOfOrder",
    ".alertsRaised",
    ".alertUpdates",
    ".duplicatesDropped",
    ".duplicatesRejected",
    ".unjudged",
)


def _record_counts(settings: Settings, job_id: str, vertex_id: str) -> dict[str, int]:
    """Records read by the sources and written to each sink, summed over subtasks.

    The job is chained into few vertices, so vertex-level counters (network
    I/O) miss most of it; the operators' own counters do not.
    """
    base = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
    wanted = [
        m["id"]
        for m in _get(settings, base)
        if (m["id"].startswith("Source__") and m["id"].endswith(".numRecordsOut"))
        or (m["id"].startswith("Sink__") and m["id"].endswith(".numRecordsIn"))
        or m["id"].endswith("__Writer.numRecordsIn")
        or m["id"].endswith(ENGINE_METRICS)
    ]
    if not wanted:
        return {}
    # Metric ids contain brackets: they must be URL-encoded.
    values = _get(settings, base, {"get": ",".join(wanted), "agg": "sum"})
    return {m["id"]: int(float(m.get("sum", 0))) for m in values}


def status(settings: Settings, job_id: str) -> JobStatus:
    """State, uptime, checkpoint counts and record counts of one job, from REST."""
    detail = _get(settings, f"/jobs/{job_id}")
    checkpoints = _get(settings, f"/jobs/{job_id}/checkpoints")
    counts = checkpoints.get("counts", {})
    latest = (checkpoints.get("latest") or {}).get("completed") or {}
    records_in = 0
    records_out: dict[str, int] = {}
    engine = dict.fromkeys(ENGINE_METRICS, 0)
    for vertex in detail.get("vertices", []):
        for metric, value in _record_counts(settings, job_id, vertex["id"]).items():
            operator, name = metric.rsplit(".", 1)
            if f".{name}" in engine:
                engine[f".{name}"] += value
            elif operator.startswith("Source__"):
                records_in += value
            else:
                name = operator.removeprefix("Sink__").removesuffix("__Writer")
                records_out[name.split("[", 1)[0]] = value
    now_ms = int(time.time() * 1000)
    finished = latest.get("latest_ack_timestamp")
    return JobStatus(
        job_id=job_id,
        name=detail["name"],
        state=detail["state"],
        uptime_ms=int(detail.get("duration", 0)),
        checkpoints_completed=int(counts.get("completed", 0)),
        checkpoints_failed=int(counts.get("failed", 0)),
        last_checkpoint=latest.get("external_path"),
        last_checkpoint_age_ms=now_ms - int(finished) if finished else None,
        records_in=records_in,
        records_out=records_out,
        out_of_order=engine[".outOfOrder"],
        alerts_raised=engine[".alertsRaised"],
        alert_updates=engine[".alertUpdates"],
        unjudged=engine[".unjudged"],
        duplicates_dropped=engine[".duplicatesDropped"],
        duplicates_rejected=engine[".duplicatesRejected"],
    )
