"""Starting, watching and stopping the stack's processes, always by pid.

Each managed process runs in its own session (so Ctrl-C in the terminal does
not reach it directly and ``stack up`` can return), writes to its own log file
and leaves a pid file behind. Stopping sends SIGTERM to the recorded pid (and
its process group), waits with a deadline, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The Popen objects of what this process started, by pid: holding them keeps
# subprocess from reaping a dead child behind our back, so its exit status
# stays readable (``exit_status``) for the supervisor.
_children: dict[int, subprocess.Popen[bytes]] = {}
_ended: dict[int, int] = {}  # pid -> exit status of children reaped by _reap


class ReadinessError(RuntimeError):
    """A component did not start or did not become ready before its deadline.

    The message is one line (``<component> <detail>; see <log>``): the CLI
    prints it as the whole error, without a traceback.
    """

    def __init__(self, component: str, detail: str, log_file: Path | None = None) -> None:
        self.component = component
        self.detail = " ".join(detail.split())
        self.log_file = log_file
        where = f"; see {display_path(log_file)}" if log_file else ""
        super().__init__(f"{component} {self.detail}{where}")


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie child still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    run_dir: Path,
    logs_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: tuple[int, int] | None = None,
) -> ManagedProcess:
    """Start ``argv`` detached in its own session; record its pid.

    ``user`` is a (uid, gid) to run as, for servers that refuse root.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    logs_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(name, run_dir / f"{name}.pid", logs_dir / f"{name}.log")
    if proc.alive():
        raise RuntimeError(f"{name} is already running (pid {proc.pid()})")
    identity: dict[str, object] = {}
    if user is not None:
        identity = {"user": user[0], "group": user[1], "extra_groups": []}
    with proc.log_file.open("ab") as out:
        child = subprocess.Popen(  # type: ignore[call-overload]
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            **identity,
        )
    proc.pid_file.write_text(f"{child.pid}\n")
    _children[child.pid] = child
    log.info("started %s (pid %d), log %s", name, child.pid, proc.log_file)
    return proc


def exit_status(pid: int) -> int | None:
    """The exit status of a child this process started and that has ended:
    the exit code, or minus the signal that killed it. None when unknown
    (not our child, still running, or already reaped)."""
    if pid in _ended:
        return _ended.pop(pid)
    child = _children.get(pid)
    if child is not None:
        # A JVM's main thread shows as a zombie while its other threads are
        # still being torn down; the status is readable a moment later.
        try:
            code: int | None = child.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            del _children[pid]
        return code
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if waited != pid:
        return None
    return os.waitstatus_to_exitcode(status)


def describe_exit(status: int | None) -> str:
    """``exit code 1``, ``killed by SIGKILL``, or that the status is not known."""
    if status is None:
        return "exited (status unknown: started by another process)"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit code {status}"


def _reap(pid: int) -> None:
    # Our own children must be waited for or they linger as zombies.
    child = _children.get(pid)
    if child is not None:
        code = child.poll()
        if code is not None:
            _ended[pid] = code
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(pid: int, *, timeout: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Signal ``pid`` and its process group; SIGKILL after ``timeout``. True if it ended."""
    if not pid_alive(pid):
        return True
    _signal_group(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    if sig != signal.SIGKILL:
        log.warning("pid %d ignored signal %d for %.0fs; sending SIGKILL", pid, sig, timeout)
        _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _signal_group(pid: int, sig: int) -> None:
    # Only signal the group when pid leads it (true for everything spawn()
    # started); never a group we merely belong to.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except OSError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def stop(proc: ManagedProcess, *, timeout: float = 30.0) -> None:
    pid = proc.pid()
    if pid is not None:
        stop_pid(pid, timeout=timeout)
        _ended.pop(pid, None)
        log.info("stopped %s (pid %d)", proc.name, pid)
    proc.pid_file.unlink(missing_ok=True)


def kill(proc: ManagedProcess) -> None:
    """SIGKILL, for failure tests: no chance to clean up."""
    pid = proc.pid()
    if pid is not None:
        stop_pid(pid, timeout=0.0, sig=signal.SIGKILL)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    component: str,
    what: str,
    log_file: Path | None = None,
    proc: ManagedProcess | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``check`` until it is true; raise ``ReadinessError`` at the deadline.

    Any exception from ``check`` counts as "not yet". Polls back off from a
    short first delay up to ``interval``. Fails early when ``proc`` has died,
    pointing at its log.
    """
    from fraudstream.platform import retry

    retry.poll(
        check,
        deadline=timeout,
        component=component,
        what=what,
        log_file=log_file,
        proc=proc,
        backoff=retry.Backoff(initial=min(0.05, interval), maximum=interval),
    )


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
