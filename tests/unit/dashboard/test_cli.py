from __future__ import annotations

import sys

from fraudstream.cli import build_parser
from fraudstream.config import Settings
from fraudstream.dashboard import cli, countries


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
