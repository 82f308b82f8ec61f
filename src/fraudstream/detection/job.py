"""The detection job's lifecycle on the Flink session cluster: submit, status, stop, cancel.

Submission plans the SQL of ``pipeline.build`` in a PyFlink client and hands
the job graph to the cluster; the rest talks to the cluster's REST API. The
last savepoint taken by ``stop`` is remembered under the runtime folder, so
``submit --from-savepoint latest`` resumes from it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import requests

from fraudstream.config import Settings
from fraudstream.detection import pipeline, plan
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
) -> str:
    """Plan the job for the catalogue at ``rules`` and submit it; return the job id."""
    catalogue = load_catalogue(rules)
    sql = pipeline.build(settings, catalogue)
    config = pipeline.job_config(settings)
    if savepoint is not None:
        # A changed catalogue changes the plan: state of operators that no
        # longer exist is dropped instead of refusing the savepoint. The
        # source's offsets still map (or the group's committed offsets apply).
        for prefix in ("execution.state-recovery", "execution.savepoint"):
            config[f"{prefix}.path"] = savepoint
            config[f"{prefix}.ignore-unclaimed-state"] = "true"
    from pyflink.table import CompiledPlan, PlanReference  # heavy: only submit needs it

    env = flinkclient.table_env(settings, remote=True, config=config)
    statements = sql.statement_set(env)
    # Submitted as a compiled plan with content-derived operator ids, so a
    # savepoint restores each rule's state into the same rule (see plan.py).
    compiled = json.loads(statements.compile_plan().as_json_string())
    scope = f"{settings.topic_transactions}|{settings.detection_group_id}"
    password = urlsplit(settings.dsn).password or ""
    secrets = [settings.card_token_key.get_secret_value(), password, unquote(password)]
    if settings.kafka_sasl_password is not None:
        secrets.append(settings.kafka_sasl_password.get_secret_value())
    stable = json.dumps(plan.redacted(plan.stable_ids(compiled, source_scope=scope), secrets))
    # Built by hand: TableEnvironment.load_plan of PyFlink 2.2 hands the Java
    # environment to CompiledPlan, whose execute() then fails.
    loaded = env._j_tenv.loadPlan(PlanReference.from_json_string(stable)._j_plan_reference)
    result = CompiledPlan(j_compiled_plan=loaded, t_env=env).execute()
    job_id = str(result.get_job_client().get_job_id())
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
            raise JobError(f"job {job_id} is {detail['state']}")
        return detail["state"] == "RUNNING" and all(
            v["status"] == "RUNNING" for v in detail.get("vertices", [])
        )

    _poll(running, timeout, f"job {job_id} running")


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
    for vertex in detail.get("vertices", []):
        for metric, value in _record_counts(settings, job_id, vertex["id"]).items():
            operator = metric.rsplit(".", 1)[0]
            if operator.startswith("Source__"):
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
    )
