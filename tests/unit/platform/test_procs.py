from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fraudstream.platform import ports, procs


def test_spawn_and_stop_by_pid(tmp_path: Path) -> None:
    proc = procs.spawn(
        "sleeper",
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        run_dir=tmp_path / "run",
        logs_dir=tmp_path / "logs",
    )
    assert proc.alive()
    procs.wait_until(
        lambda: "up" in proc.log_file.read_text(), timeout=10, component="sleeper", what="greeting"
    )
    procs.stop(proc, timeout=5)
    assert not proc.alive()
    assert not proc.pid_file.exists()


def test_wait_until_names_component_and_log(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    with pytest.raises(procs.ReadinessError) as err:
        procs.wait_until(
            lambda: False,
            timeout=0.3,
            component="thing",
            what="signal",
            log_file=log,
            interval=0.05,
        )
    assert "thing did not become ready within 0.3 s" in str(err.value)
    assert str(err.value).endswith(f"; see {procs.display_path(log)}")
    assert "\n" not in str(err.value)


def test_wait_until_fails_fast_when_process_died(tmp_path: Path) -> None:
    proc = procs.spawn(
        "quitter", [sys.executable, "-c", "pass"], run_dir=tmp_path, logs_dir=tmp_path
    )
    with pytest.raises(procs.ReadinessError, match="exited"):
        procs.wait_until(lambda: False, timeout=30, component="quitter", what="x", proc=proc)


def test_port_holder_is_reported() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not ports.is_free("127.0.0.1", port)
        who = ports.holder(port)
        assert who is not None and who.startswith("pid ")
    assert len(set(ports.free_ports(5))) == 5
