"""``fraudstream dashboard``: serve the Streamlit app until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from fraudstream.config import Settings, env_for, load_settings

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parent / "app.py"


def register(sub: Any) -> None:
    """Add this area's sub-commands to the `fraudstream` parser."""
    parser = sub.add_parser(
        "dashboard",
        help="serve the live fraud dashboard (Streamlit) until stopped",
        description="Serve the dashboard on http://HOST:PORT; SIGTERM or Ctrl-C stops it.",
    )
    parser.add_argument("--port", type=int, help="port (default: settings.dashboard_port)")
    parser.add_argument("--host", help="address to bind (default: settings.host)")
    parser.set_defaults(func=_run)


def streamlit_argv(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.port={settings.dashboard_port}",
        f"--server.address={settings.host}",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
    ]


def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["dashboard_port"] = args.port
    if args.host is not None:
        overrides["host"] = args.host
    settings = load_settings(**overrides)
    return serve(settings)


def serve(settings: Settings) -> int:
    """Run ``streamlit run`` as a child; forward SIGTERM/SIGINT to it."""
    child = subprocess.Popen(streamlit_argv(settings), env=env_for(settings))
    stopping = False

    def _forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        del frame
        stopping = True
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, _forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"Dashboard: http://{settings.host}:{settings.dashboard_port}", flush=True)
    try:
        while True:
            try:
                code = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
    if stopping:
        log.info("dashboard stopped")
        return 0
    return code
