"""``fraudstream job submit|status|stop|cancel``: the detection job on the Flink cluster."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import requests

from fraudstream.config import Settings, load_settings


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    job = sub.add_parser("job", help="the streaming detection job on the Flink cluster")
    job_sub = job.add_subparsers(dest="job_command", metavar="ACTION")
    job_sub.required = True

    submit = job_sub.add_parser("submit", help="plan the job and submit it to the cluster")
    submit.add_argument(
        "--rules", type=Path, default=None, help="rule catalogue YAML (default: the bundled one)"
    )
    submit.add_argument(
        "--from-savepoint",
        metavar="PATH|latest",
        default=None,
        help="resume from this savepoint or checkpoint; 'latest' is the one the last "
        "`job stop` took (default: the newer of that savepoint and the last job's newest "
        "retained checkpoint)",
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
        help="do nothing when a job of this name is already running",
    )
    submit.set_defaults(func=cmd_submit)

    status = job_sub.add_parser("status", help="state, uptime, checkpoints and record counts")
    status.set_defaults(func=cmd_status)

    stop = job_sub.add_parser("stop", help="stop with a savepoint and print its path")
    stop.set_defaults(func=cmd_stop)

    cancel = job_sub.add_parser("cancel", help="cancel without a savepoint")
    cancel.set_defaults(func=cmd_cancel)

    token = sub.add_parser(
        "card-token",
        help="print the token of each card number read from standard input, under the "
        "current key (block-list entries, key rotation)",
    )
    token.set_defaults(func=cmd_card_token)


def _user_error(message: str) -> Exception:
    from fraudstream.cli import UserError

    return UserError(message)


def _active(settings: Settings) -> Any:
    from fraudstream.detection import job

    try:
        return job.active_job(settings)
    except requests.RequestException as exc:
        raise _user_error(
            f"Flink REST at {settings.flink_rest} is not reachable ({exc.__class__.__name__}); "
            "is the stack up (`fraudstream stack up`)?"
        ) from exc


def cmd_submit(args: argparse.Namespace) -> int:
    from fraudstream.cli import check_card_token_key
    from fraudstream.detection import job
    from fraudstream.detection.rules.catalogue import CatalogueError

    settings = load_settings()
    check_card_token_key(settings)
    running = _active(settings)
    if running is not None:
        if args.if_not_running:
            print(f"{settings.detection_job_name} already {running.state}: {running.job_id}")
            return 0
        raise _user_error(
            f"{settings.detection_job_name} is already {running.state} as {running.job_id}; "
            "stop it first (`fraudstream job stop`)"
        )
    savepoint = args.from_savepoint
    if savepoint is not None and args.fresh:
        raise _user_error("--fresh and --from-savepoint exclude each other")
    resumed_by_default = False
    if savepoint is None and not args.fresh:
        point = job.resume_point(settings)
        if point is not None:
            savepoint, resumed_by_default = point.location, True
            print(f"resuming from the last {point.kind}: {point.location} (--fresh to start anew)")
    if savepoint == "latest":
        savepoint = job.latest_savepoint(settings)
        if savepoint is None:
            raise _user_error(
                f"no savepoint remembered in {job.state_file(settings)}; run `fraudstream job stop`"
            )
    try:
        job_id = job.submit(
            settings,
            rules=args.rules,
            savepoint=savepoint,
            allow_dropped_state=args.allow_dropped_state,
        )
    except CatalogueError as exc:
        raise _user_error(str(exc)) from exc
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
        job_id = job.submit(settings, rules=args.rules)
        try:
            job.wait_running(settings, job_id)
        except job.JobError as again:
            raise _user_error(str(again)) from again
    print(f"submitted {settings.detection_job_name}: {job_id}")
    if savepoint:
        print(f"resumed from {savepoint}")
    return 0


def _duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def cmd_status(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    running = _active(settings)
    if running is None:
        last = job.latest_savepoint(settings)
        print(f"{settings.detection_job_name}: not running")
        if last:
            print(f"last savepoint: {last}")
        return 1
    info = job.status(settings, running.job_id)
    print(f"job        {info.name} {info.job_id}")
    print(f"state      {info.state}, up {_duration(info.uptime_ms)}")
    age = f", {info.last_checkpoint_age_ms / 1000:.1f}s ago" if info.last_checkpoint_age_ms else ""
    print(
        f"checkpoints {info.checkpoints_completed} completed, {info.checkpoints_failed} failed{age}"
    )
    print(f"records in  {info.records_in}")
    for sink, count in sorted(info.records_out.items()):
        print(f"  out {sink:<16} {count}")
    print(f"alerts      {info.alerts_raised} raised, {info.alert_updates} episode updates")
    print(f"out of order {info.out_of_order} (evaluated against the profile as it stood)")
    print(f"unjudged    {info.unjudged} (a rule could not judge: country without coordinates)")
    print(
        f"duplicates  {info.duplicates_dropped} identical repeats dropped, "
        f"{info.duplicates_rejected} conflicting ids to the DLQ"
    )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    running = _active(settings)
    if running is None:
        raise _user_error(f"{settings.detection_job_name} is not running")
    try:
        location = job.stop_with_savepoint(settings, running.job_id)
    except job.JobError as exc:
        raise _user_error(str(exc)) from exc
    print(location)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from fraudstream.detection import job

    settings = load_settings()
    running = _active(settings)
    if running is None:
        raise _user_error(f"{settings.detection_job_name} is not running")
    job.cancel(settings, running.job_id)
    print(f"cancelled {running.job_id}")
    return 0


def cmd_card_token(args: argparse.Namespace) -> int:
    """Card numbers on standard input (never on the command line, where shell
    history would keep them), one a line; masked form and token out."""
    import re
    import sys

    from fraudstream.records import card_token, mask_card

    key = load_settings().card_token_secret()
    for number, line in enumerate(sys.stdin, 1):
        digits = re.sub(r"[ \-]", "", line.strip())
        if not digits:
            continue
        if not re.fullmatch(r"[0-9]{12,19}", digits):
            raise _user_error(f"line {number}: not a card number (12-19 digits)")
        print(f"{mask_card(digits)}\t{card_token(digits, key)}")
    return 0
