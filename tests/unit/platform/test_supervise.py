from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from fraudstream.platform import procs, supervise
from fraudstream.platform.procs import ManagedProcess


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = supervise.RestartPolicy(initial=1, factor=2, maximum=5, give_up_after=4)
    assert [policy.delay(n) for n in range(5)] == [1, 2, 4, 5, 5]
    assert not policy.gives_up(3)
    assert policy.gives_up(4)


def test_exit_reasons() -> None:
    assert procs.describe_exit(1) == "exit code 1"
    assert procs.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert "unknown" in procs.describe_exit(None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _sleeper(tmp_path: Path, name: str = "sleeper") -> ManagedProcess:
    return procs.spawn(
        name,
        [sys.executable, "-c", "import time; time.sleep(60)"],
        run_dir=tmp_path / "run",
        logs_dir=tmp_path / "logs",
    )


@pytest.fixture
def supervisor(tmp_path: Path) -> supervise.Supervisor:
    policy = supervise.RestartPolicy(initial=1, factor=2, maximum=4, give_up_after=2, window=100)
    return supervise.Supervisor(
        tmp_path / "run", tmp_path / "logs", policy=policy, clock=FakeClock()
    )


def _wait_dead(proc: ManagedProcess, pid: int) -> None:
    procs.wait_until(lambda: not procs.pid_alive(pid), timeout=10, component=proc.name, what="exit")


def test_a_killed_process_is_restarted_after_the_backoff_and_recorded(
    tmp_path: Path, supervisor: supervise.Supervisor
) -> None:
    clock = supervisor._clock
    assert isinstance(clock, FakeClock)
    first = _sleeper(tmp_path)
    supervisor.watch("sleeper", lambda: _sleeper(tmp_path))
    assert supervisor.acquire()
    try:
        old = first.pid()
        assert old is not None
        procs.kill(first)
        _wait_dead(first, old)
        supervisor.check()  # noticed, restart due in 1 s
        assert first.pid() == old
        assert supervisor.records()["sleeper"].last_exit == "killed by SIGKILL"
        clock.now = 1.0
        supervisor.check()
        new = first.pid()
        assert new is not None and new != old and procs.pid_alive(new)
        saved = supervise.load_records(tmp_path / "run")["sleeper"]
        assert saved.restarts == 1 and saved.last_exit == "killed by SIGKILL"

        # Second death within the window: twice the delay.
        procs.kill(first)
        _wait_dead(first, new)
        supervisor.check()
        clock.now = 2.5
        supervisor.check()
        assert first.pid() == new
        clock.now = 3.0
        supervisor.check()
        third = first.pid()
        assert third not in (None, new)

        # Third death: the policy gives up; the pid file goes, nothing restarts.
        assert third is not None
        procs.kill(first)
        _wait_dead(first, third)
        supervisor.check()
        clock.now = 100.0
        supervisor.check()
        assert first.pid() is None
        assert supervisor.records()["sleeper"].gave_up
    finally:
        supervisor.stop()
        procs.stop(first)


def test_a_process_stopped_on_purpose_is_not_restarted(
    tmp_path: Path, supervisor: supervise.Supervisor
) -> None:
    proc = _sleeper(tmp_path)
    supervisor.watch("sleeper", lambda: _sleeper(tmp_path))
    procs.stop(proc)
    supervisor.check()
    assert proc.pid() is None
    assert supervisor.records()["sleeper"].restarts == 0


def test_only_one_supervisor_per_stack(tmp_path: Path) -> None:
    first = supervise.Supervisor(tmp_path / "run", tmp_path / "logs")
    second = supervise.Supervisor(tmp_path / "run", tmp_path / "logs")
    assert first.acquire()
    try:
        assert not second.acquire()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_a_noted_reason_stands_in_for_an_unknown_status(
    tmp_path: Path, supervisor: supervise.Supervisor
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A pid that is certainly not alive and not our child.
    (run_dir / "ghost.pid").write_text("999999999\n")
    supervisor.watch("ghost", lambda: _sleeper(tmp_path, "ghost"))
    supervisor.note_exit("ghost", "SIGKILL sent by bench chaos")
    supervisor.check()
    assert supervisor.records()["ghost"].last_exit == "SIGKILL sent by bench chaos"
    supervisor.stop()
