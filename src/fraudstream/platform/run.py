"""``fraudstream run``: the whole system in the foreground until Ctrl-C.

Brings the stack up, then starts whatever the installed areas provide — the
detection job (``fraudstream job submit``), the archive writer
(``fraudstream archive``), the two default banks (``fraudstream produce``) and
the dashboard — as child processes tracked by pid. While it runs, a supervisor
restarts any of those processes, and any process of the stack, that dies
(``platform.supervise``); after a JobManager restart it resubmits the
detection job, which resumes from its newest retained checkpoint. Ctrl-C (or
SIGTERM) stops them in reverse order, stops the detection job with a savepoint
(the next run resumes from it) and then the stack.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType

from fraudstream.config import Settings, env_for
from fraudstream.platform import procs, supervise
from fraudstream.platform.stack import Stack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    """A long-running child of `run`, started as a `fraudstream` sub-command."""

    name: str
    argv: tuple[str, ...]
    oneshot: bool = False  # runs to completion before the next service starts


def available_commands() -> set[str]:
    from fraudstream.cli import build_parser

    parser = build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        choices = getattr(action, "choices", None)
        if choices:
            return set(choices)
    return set()


def planned_services(
    settings: Settings, *, job: bool, banks: bool, dashboard: bool
) -> list[Service]:
    commands = available_commands()
    services: list[Service] = []
    if job and "job" in commands:
        services.append(Service("job-submit", ("job", "submit", "--if-not-running"), oneshot=True))
    if job and "archive" in commands:
        services.append(Service("archive", ("archive",)))
    if banks and "produce" in commands:
        services.append(Service("bank-a", ("produce", "--bank", "BANK_A")))
        services.append(Service("bank-b", ("produce", "--bank", "BANK_B")))
    if dashboard and "dashboard" in commands:
        services.append(Service("dashboard", ("dashboard",)))
    return services


def run_foreground(
    settings: Settings, *, job: bool, banks: bool, dashboard: bool, keep: bool
) -> int:
    stop_requested = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop_requested.set()

    stack = Stack(settings)
    started: list[procs.ManagedProcess] = []
    supervisor: supervise.Supervisor | None = None
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.up()
        if stop_requested.is_set():
            return 130
        env = env_for(settings)
        services = planned_services(settings, job=job, banks=banks, dashboard=dashboard)
        for service in services:
            proc = _spawn_service(settings, service, env)
            if service.oneshot:
                procs.wait_until(
                    lambda p=proc: not p.alive(),  # type: ignore[misc]
                    timeout=300,
                    component=service.name,
                    what="completion",
                    log_file=proc.log_file,
                )
                proc.pid_file.unlink(missing_ok=True)
                log.info("%s done; log %s", service.name, proc.log_file)
            else:
                started.append(proc)
        supervisor = _supervisor(stack, services, env, job=job)
        _announce(stack)
        while not stop_requested.wait(timeout=1.0):
            if supervisor is not None:
                supervisor.check()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if supervisor is not None:
            supervisor.stop()
        for proc in reversed(started):
            procs.stop(proc, timeout=20)
        if not keep:
            if job:
                _stop_job_with_savepoint(settings)
            stack.down()
            log.info("everything stopped")


def _spawn_service(
    settings: Settings, service: Service, env: dict[str, str]
) -> procs.ManagedProcess:
    argv = [sys.executable, "-m", "fraudstream.cli", *service.argv]
    return procs.spawn(
        service.name, argv, run_dir=settings.run_dir, logs_dir=settings.logs_dir, env=env
    )


def _supervisor(
    stack: Stack, services: list[Service], env: dict[str, str], *, job: bool
) -> supervise.Supervisor | None:
    """Watch the stack and the long-running services; None when another
    process already supervises this stack."""
    after_jobmanager = None
    if job and any(service.name == "job-submit" for service in services):

        def after_jobmanager() -> None:
            supervise.resubmit_jobs(stack, env)

    supervisor = supervise.for_stack(stack, after_jobmanager=after_jobmanager)
    for service in services:
        if not service.oneshot:
            supervisor.watch(
                service.name,
                lambda service=service: _spawn_service(stack.settings, service, env),  # type: ignore[misc]
            )
    if not supervisor.acquire():
        log.warning("another process supervises this stack; this run does not restart processes")
        return None
    return supervisor


def _stop_job_with_savepoint(settings: Settings) -> None:
    """Stop the detection job with a savepoint, so the next run resumes its
    profiles and offsets; a failure is logged, never blocks the shutdown."""
    try:
        from fraudstream.detection import job as detection
    except ImportError:
        return
    try:
        running = detection.active_job(settings)
        if running is None:
            return
        location = detection.stop_with_savepoint(settings, running.job_id, timeout=90)
        log.info("detection job stopped with a savepoint: %s", location)
    except Exception as exc:  # the stack is going down either way
        log.warning(
            "detection job not stopped with a savepoint (%s); the next run "
            "resumes from its newest retained checkpoint",
            exc,
        )


def _announce(stack: Stack) -> None:
    s = stack.settings
    lines = [
        "fraudstream is running (Ctrl-C stops everything)",
        f"  Kafka bootstrap servers: {s.bootstrap_servers}",
        f"  Flink web UI:            {s.flink_rest}",
        f"  PostgreSQL:              {s.dsn_redacted}",
        f"  Dashboard:               http://{s.host}:{s.dashboard_port}",
        f"  Logs:                    {s.logs_dir}",
    ]
    print("\n".join(lines), flush=True)
