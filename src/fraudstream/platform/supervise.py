"""Restarting the stack's processes when they die.

A ``Supervisor`` looks at each watched process's pid file every second. A
process whose pid file names a pid that is gone died without being stopped
(``stack down`` and ``procs.stop`` remove the pid file first thing after the
process ends, so a stop on purpose is never mistaken for a crash). The death
is logged with its exit reason, then the process is started again after an
exponential back-off; one that dies ``give_up_after`` times within
``window`` seconds is left stopped and reported, rather than restarted in a
loop that hides the fault.

Restarts and the last exit reason of each process are written to
``<run dir>/supervision.json``, which ``fraudstream stack status`` shows.
Only one supervisor watches a stack at a time (an ``flock`` on
``<run dir>/supervisor.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fraudstream.platform import procs
from fraudstream.platform.procs import ManagedProcess

if TYPE_CHECKING:
    from fraudstream.platform.stack import Stack

log = logging.getLogger(__name__)

Restarter = Callable[[], ManagedProcess]
Hook = Callable[[], None]


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off before each restart and when to give up.

    The first restart waits ``initial`` seconds; each further restart within
    ``window`` seconds waits ``factor`` times longer, up to ``maximum``.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    give_up_after: int = 5
    window: float = 300.0

    def delay(self, recent_restarts: int) -> float:
        return float(min(self.maximum, self.initial * self.factor**recent_restarts))

    def gives_up(self, recent_restarts: int) -> bool:
        return recent_restarts >= self.give_up_after


@dataclass
class ComponentRecord:
    """What ``stack status`` shows about a supervised process."""

    restarts: int = 0
    last_exit: str = ""
    last_exit_at: float | None = None  # epoch s
    gave_up: bool = False


def records_file(run_dir: Path) -> Path:
    return run_dir / "supervision.json"


def load_records(run_dir: Path) -> dict[str, ComponentRecord]:
    """The records of the last supervised run; empty when there was none."""
    try:
        raw = json.loads(records_file(run_dir).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    known = set(ComponentRecord.__dataclass_fields__)
    return {
        name: ComponentRecord(**{k: v for k, v in value.items() if k in known})
        for name, value in raw.items()
        if isinstance(value, dict)
    }


@dataclass
class _Pending:
    due: float  # monotonic
    pid: int
    reason: str


@dataclass
class _Watched:
    restart: Restarter
    after: Hook | None = None
    history: list[float] = field(default_factory=list)  # monotonic restart times
    pending: _Pending | None = None


class Supervisor:
    """Watches named processes and restarts those that die."""

    def __init__(
        self,
        run_dir: Path,
        logs_dir: Path,
        *,
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_dir = run_dir
        self.logs_dir = logs_dir
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._watched: dict[str, _Watched] = {}
        self._notes: dict[str, str] = {}
        self._records: dict[str, ComponentRecord] = {}
        self._lock_file: IO[str] | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hooks: list[threading.Thread] = []

    # -- set-up ---------------------------------------------------------------
    def acquire(self) -> bool:
        """Become the stack's supervisor; False when another process already is."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.run_dir / "supervisor.lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_file = handle
        # A new supervised run starts its counts afresh.
        self._save()
        return True

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def watch(self, name: str, restart: Restarter, *, after_restart: Hook | None = None) -> None:
        """Restart ``name`` with ``restart`` when it dies; then run ``after_restart``
        (in a thread of its own) — e.g. resubmit the jobs a JobManager lost."""
        self._watched[name] = _Watched(restart, after_restart)
        self._records.setdefault(name, ComponentRecord())

    def note_exit(self, name: str, reason: str) -> None:
        """Tell the supervisor why ``name`` is about to die (a deliberate kill),
        for a process whose exit status it cannot read."""
        with self._mutex:
            self._notes[name] = reason

    def records(self) -> dict[str, ComponentRecord]:
        with self._mutex:
            return {k: ComponentRecord(**asdict(v)) for k, v in self._records.items()}

    # -- the loop -------------------------------------------------------------
    def start(self, interval: float = 1.0) -> Supervisor:
        def loop() -> None:
            while not self._stop.wait(interval):
                self.check()

        self._thread = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for hook in self._hooks:
            hook.join(timeout)
        self.release()

    def check(self) -> None:
        """One look at every watched process: notice deaths, run due restarts."""
        for name, watched in self._watched.items():
            try:
                self._check_one(name, watched)
            except Exception:
                log.exception("supervisor: restarting %s failed", name)

    def _check_one(self, name: str, watched: _Watched) -> None:
        proc = ManagedProcess(name, self.run_dir / f"{name}.pid", self.logs_dir / f"{name}.log")
        now = self._clock()
        pending = watched.pending
        if pending is not None:
            if now < pending.due:
                return
            watched.pending = None
            if proc.pid() != pending.pid:
                # Stopped on purpose, or started by someone else meanwhile.
                return
            self._restart(name, watched, proc, pending.reason)
            return
        pid = proc.pid()
        if pid is None or procs.pid_alive(pid):
            return
        with self._mutex:
            noted = self._notes.pop(name, None)
        status = procs.exit_status(pid)
        reason = procs.describe_exit(status) if status is not None or noted is None else noted
        if status is not None and noted is not None:
            reason = f"{reason} ({noted})"
        watched.history = [t for t in watched.history if now - t < self.policy.window]
        with self._mutex:
            record = self._records.setdefault(name, ComponentRecord())
            record.last_exit = reason
            record.last_exit_at = time.time()
        if self.policy.gives_up(len(watched.history)):
            log.error(
                "%s (pid %d) %s; it died %d times in %.0f s, not restarting it again; see %s",
                name,
                pid,
                reason,
                len(watched.history) + 1,
                self.policy.window,
                procs.display_path(proc.log_file),
            )
            with self._mutex:
                record.gave_up = True
            proc.pid_file.unlink(missing_ok=True)
            self._save()
            return
        delay = self.policy.delay(len(watched.history))
        log.warning(
            "%s (pid %d) %s; restarting it in %.0f s; see %s",
            name,
            pid,
            reason,
            delay,
            procs.display_path(proc.log_file),
        )
        watched.pending = _Pending(now + delay, pid, reason)
        self._save()

    def _restart(self, name: str, watched: _Watched, proc: ManagedProcess, reason: str) -> None:
        proc.pid_file.unlink(missing_ok=True)
        started = watched.restart()
        watched.history.append(self._clock())
        with self._mutex:
            record = self._records.setdefault(name, ComponentRecord())
            record.restarts += 1
            count = record.restarts
        log.warning(
            "restarted %s (pid %s), restart %d (last exit: %s)", name, started.pid(), count, reason
        )
        self._save()
        if watched.after is not None:
            hook = threading.Thread(
                target=self._run_hook, args=(name, watched.after), name=f"after-{name}"
            )
            hook.daemon = True
            hook.start()
            self._hooks = [h for h in self._hooks if h.is_alive()] + [hook]

    def _run_hook(self, name: str, hook: Hook) -> None:
        try:
            hook()
        except Exception as exc:
            log.error("after restarting %s: %s", name, exc)

    def _save(self) -> None:
        with self._mutex:
            data: dict[str, Any] = {k: asdict(v) for k, v in self._records.items()}
        path = records_file(self.run_dir)
        tmp = path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(path)


def for_stack(stack: Stack, *, after_jobmanager: Hook | None = None) -> Supervisor:
    """A supervisor of every local process of ``stack``; ``after_jobmanager``
    runs once a restarted JobManager is ready (a session cluster without high
    availability forgets its jobs when its JobManager dies)."""
    s = stack.settings
    supervisor = Supervisor(s.run_dir, s.logs_dir)
    for name in stack.component_names():
        after = after_jobmanager if name == "flink-jobmanager" else None
        supervisor.watch(
            name,
            lambda name=name: stack.restart(name),  # type: ignore[misc]
            after_restart=after,
        )
    return supervisor


def resubmit_jobs(stack: Stack, env: dict[str, str], *extra: str) -> None:
    """``fraudstream job submit --if-not-running`` once the JobManager answers
    again: it resumes from the newest retained checkpoint of the job that was
    lost. It does not wait for the TaskManager's slots: the TaskManager
    returns them only once it has noticed the old JobManager is gone, and the
    submission (the PyFlink client's start and the job's planning) overlaps
    that wait; the job's tasks start when the slots arrive. Its output goes
    to ``<logs>/job-resubmit.log``."""
    stack.wait_flink(slots=False)
    log_file = stack.settings.logs_dir / "job-resubmit.log"
    argv = [sys.executable, "-m", "fraudstream.cli", "job", "submit", "--if-not-running", *extra]
    log.info("resubmitting the detection job after the JobManager restart; log %s", log_file)
    with log_file.open("ab") as out:
        done = subprocess.run(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"job resubmission ended with exit code {done.returncode}; see {log_file}"
        )
    log.info("detection job running again after the JobManager restart")
