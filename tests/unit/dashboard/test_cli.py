from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from fraudstream.cli import UserError, build_parser, main
from fraudstream.config import Settings
from fraudstream.dashboard import auth, cli, countries


def test_streamlit_argv_uses_settings() -> None:
    argv = cli.streamlit_argv(Settings(dashboard_port=9999, host="127.0.0.2"))
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert argv[4].endswith("dashboard/app.py")
    assert "--server.port=9999" in argv
    assert "--server.address=127.0.0.2" in argv
    assert "--server.headless=true" in argv


def test_dashboard_command_parses_port_and_host() -> None:
    args = build_parser().parse_args(["dashboard", "--port", "8600", "--host", "0.0.0.0"])
    assert args.port == 8600 and args.host == "0.0.0.0"
    assert args.func is cli._run


def test_country_centroids() -> None:
    lat, lon = countries.centroid("de") or (0.0, 0.0)
    assert 47 < lat < 55 and 5 < lon < 15
    assert countries.centroid("ZZ") is None


def test_add_user_writes_a_hashed_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.json"
    monkeypatch.setenv("FRAUDSTREAM_DASHBOARD_USERS_FILE", str(path))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["dashboard", "add-user", "ana", "--password-stdin"]) == 0
    assert "added ana" in capsys.readouterr().out
    assert auth.load(path).verify("ana", "a long password")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["dashboard", "add-user", "bob", "--password-stdin"]) == 2
    assert "at least" in capsys.readouterr().err


def test_dashboard_off_loopback_without_users_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, host="0.0.0.0")
    with pytest.raises(UserError, match="add-user"):
        cli.check_login(settings)
    cli.check_login(Settings(home=tmp_path, host="127.0.0.1"))
    auth.add_user(settings.dashboard_users_path, "ana", "a long password")
    cli.check_login(settings)
