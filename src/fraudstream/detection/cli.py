"""``fraudstream job submit|status|stop|cancel``: the detection and archive jobs on the cluster.

Each command acts on both jobs (``--only`` picks one): the detection job
(validation, rules, alerts on Kafka) and the archive job (its topics into
PostgreSQL).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import requests

from fraudstream.config import Settings, load_settings

KINDS = ("detection", "archive")


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    job = sub.add_parser(
        "job", help="the streaming detection and archive jobs on the Flink cluster"
    )
    job_sub = job.add_subparsers(dest="job_command", metavar="ACTION")
    job_sub.required = True

    def only(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--only",
            choices=KINDS,
            default=None,
            help="act on this job only (default: both, the detection job first)",
        )

    submit = job_sub.add_parser("submit", help="plan the job and submit it to the cluster")
    submit.add_argument(
        "--rules", type=Path, default=None, help="rule catalogue YAML (default: the bundled one)"
    )
    submit.add_argument(
        "--from-savepoint",
        metavar="PATH|latest",
        default=None,
        help="resume from this savepoint or checkpoint (a path: the detection job's, or with "
        "--only the named job's); 'latest' is the one the last `job stop` took, for each job "
        "(default: per job, the newer of that savepoint and the last job's newest retained "
        "checkpoint)",
    )
    submit.add_argument(
        "--fresh",
        action="store_true",
        help="do not resume: start with empty profiles from the consumer group's committed offsets",
    )
    submit.add_argument(
        "--allow-dropped-state",
        action="store_true",
        help="resume even when the savepoint holds state the new job has no operator for "
        "(that state is dropped); without it such a resume fails and names the operator",
    )
    submit.add_argument(
        "--if-not-running",
        action="store_true",
        help="leave a job that is already running as it is (and submit the other one)",
    )
    only(submit)
    submit.set_defaults(func=cmd_submit)

    status = job_sub.add_parser("status", help="state, uptime, checkpoints and record counts")
    only(status)
    status.set_defaults(func=cmd_status)

    stop = job_sub.add_parser("stop", help="stop with a savepoint and print its path")
    only(stop)
    stop.set_defaults(func=cmd_stop)

    cancel = job_sub.add_parser("cancel", help="cancel without a savepoint")
    only(cancel)
    cancel.set_defaults(func=cmd_cancel)


def _user_error(message: str) -> Exception:
    from fraudstream.cli import UserError

    return UserError(message)


def _kinds(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.only,) if getattr(args, "only", None) else KINDS


def _active(settings: Settings, kind: str) -> Any:
    from fraudstream.detection import job

    try:
        return job.active_job(settings, kind)
    except requests.RequestException as exc:
        raise _user_error(
            f"Flink REST at {settings.flink_rest} is not reachable ({exc.__class__.__name__}); "
            "is the stack up (`fraudstream stack up`)?"
        ) from exc


def cmd_submit(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    if args.from_savepoint is not None and args.fresh:
        raise _user_error("--fresh and --from-savepoint exclude each other")
    kinds = _kinds(args)
    wanted = []
    for kind in kinds:
        name = job.job_name(settings, kind)
        running = _active(settings, kind)
        if running is None:
            wanted.append(kind)
        elif args.if_not_running:
            print(f"{name} already {running.state}: {running.job_id}")
        else:
            raise _user_error(
                f"{name} is already {running.state} as {running.job_id}; "
                "stop it first (`fraudstream job stop`)"
            )
    for kind in wanted:
        savepoint = args.from_savepoint
        if savepoint not in (None, "latest") and kind != kinds[0]:
            savepoint = None  # a path names one job's snapshot: the first one's
        _submit_one(settings, args, kind, savepoint)
    return 0


def _submit_one(
    settings: Settings, args: argparse.Namespace, kind: str, savepoint: str | None
) -> None:
    from fraudstream.detection import job
    from fraudstream.detection.rules.catalogue import CatalogueError

    name = job.job_name(settings, kind)
    resumed_by_default = False
    if savepoint is None and not args.fresh:
        point = job.resume_point(settings, kind)
        if point is not None:
            savepoint, resumed_by_default = point.location, True
            print(
                f"{name}: resuming from the last {point.kind}: {point.location} "
                "(--fresh to start anew)"
            )
    if savepoint == "latest":
        savepoint = job.latest_savepoint(settings, kind)
        if savepoint is None:
            raise _user_error(
                f"no savepoint remembered in {job.state_file(settings, kind)}; "
                "run `fraudstream job stop`"
            )

    def submit(point: str | None) -> str:
        try:
            return job.submit(
                settings,
                rules=args.rules,
                savepoint=point,
                allow_dropped_state=args.allow_dropped_state,
                kind=kind,
            )
        except CatalogueError as exc:
            raise _user_error(str(exc)) from exc

    job_id = submit(savepoint)
    try:
        job.wait_running(settings, job_id)
    except job.JobError as exc:
        if not resumed_by_default or job.DROPPED_STATE_HINT in str(exc):
            raise _user_error(str(exc)) from exc
        # A retained checkpoint can be unusable (the stack was killed while
        # writing it): say so, and start from the committed offsets.
        print(f"could not resume from {savepoint} ({exc}); starting without it")
        job.cancel(settings, job_id)
        savepoint = None
        job_id = submit(None)
        try:
            job.wait_running(settings, job_id)
        except job.JobError as again:
            raise _user_error(str(again)) from again
    print(f"submitted {name}: {job_id}")
    if savepoint:
        print(f"resumed from {savepoint}")


def _duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    missing = 0
    for kind in _kinds(args):
        running = _active(settings, kind)
        if running is None:
            missing += 1
            last = job.latest_savepoint(settings, kind)
            print(f"{job.job_name(settings, kind)}: not running")
            if last:
                print(f"last savepoint: {last}")
            continue
        info = job.status(settings, running.job_id)
        print(f"job        {info.name} {info.job_id}")
        print(f"state      {info.state}, up {_duration(info.uptime_ms)}")
        age = (
            f", {info.last_checkpoint_age_ms / 1000:.1f}s ago"
            if info.last_checkpoint_age_ms
            else ""
        )
        print(
            f"checkpoints {info.checkpoints_completed} completed, "
            f"{info.checkpoints_failed} failed{age}"
        )
        print(f"records in  {info.records_in}")
        for sink, count in sorted(info.records_out.items()):
            print(f"  out {sink:<16} {count}")
        if kind == "detection":
            print(f"alerts      {info.alerts_raised} raised, {info.alert_updates} episode updates")
            print(f"out of order {info.out_of_order} (evaluated against the profile as it stood)")
            print(
                f"duplicates  {info.duplicates_dropped} identical repeats dropped, "
                f"{info.duplicates_rejected} conflicting ids to the DLQ"
            )
        print()
    return 1 if missing else 0


def cmd_stop(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    stopped = 0
    for kind in _kinds(args):
        running = _active(settings, kind)
        name = job.job_name(settings, kind)
        if running is None:
            print(f"{name} is not running")
            continue
        try:
            location = job.stop_with_savepoint(settings, running.job_id, kind=kind)
        except job.JobError as exc:
            raise _user_error(str(exc)) from exc
        print(f"{name}: {location}")
        stopped += 1
    if not stopped:
        raise _user_error("no job was running")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    cancelled = 0
    for kind in _kinds(args):
        running = _active(settings, kind)
        name = job.job_name(settings, kind)
        if running is None:
            print(f"{name} is not running")
            continue
        job.cancel(settings, running.job_id)
        print(f"cancelled {name}: {running.job_id}")
        cancelled += 1
    if not cancelled:
        raise _user_error("no job was running")
    return 0
