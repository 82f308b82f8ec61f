"""A failed start ends in one line naming the component and its log, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream import cli
from fraudstream.config import Settings
from fraudstream.platform import jvm
from fraudstream.platform.procs import ReadinessError, display_path
from fraudstream.platform.stack import Stack


def test_cli_prints_one_line_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "kafka-broker-2.log"

    def fail(self: Stack) -> None:
        raise ReadinessError(
            "kafka-broker-2", "did not become ready within 90 s (waiting for metadata)", log_file
        )

    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("FRAUDSTREAM_CARD_TOKEN_KEY", "a-key-of-its-own")  # no dev-key warning
    monkeypatch.setattr(Stack, "up", fail)
    assert cli.main(["stack", "up"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert err.startswith("fraudstream: error: kafka-broker-2 did not become ready within 90 s")
    assert err.rstrip().endswith(f"; see {display_path(log_file)}")


def test_unexpected_start_error_is_named_after_its_component_and_stops_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stack = Stack(Settings(home=tmp_path))
    stopped: list[bool] = []

    def boom(self: Stack) -> None:
        raise OSError("No space left on device\nsecond line")

    monkeypatch.setattr(Stack, "check_prerequisites", lambda self: None)
    monkeypatch.setattr(jvm, "fetch", lambda *a, **k: tmp_path)
    monkeypatch.setattr(Stack, "_start_postgres", boom)
    monkeypatch.setattr(Stack, "down", lambda self, purge=False: stopped.append(True))
    with pytest.raises(ReadinessError) as err:
        stack.up()
    message = str(err.value)
    assert message.startswith("postgres could not be started: OSError: No space left on device")
    assert message.endswith(f"; see {display_path(tmp_path / 'logs' / 'postgres.log')}")
    assert "\n" not in message
    assert stopped == [True]
