"""``fraudstream dashboard``: serve the Streamlit app until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from fraudstream.config import Settings, env_for, load_settings
from fraudstream.dashboard import auth

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
    actions = parser.add_subparsers(dest="dashboard_action", metavar="ACTION")
    add = actions.add_parser(
        "add-user",
        help="add an analyst (or set a new password) in the dashboard users file",
        description="Store NAME with an argon2id hash of a password read from the terminal "
        "(twice) or, with --password-stdin, from the first line of standard input.",
    )
    add.add_argument("name", help="the analyst's user name; triage verdicts record it")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(func=_add_user)


def _user_error(message: str) -> Exception:
    from fraudstream.cli import UserError

    return UserError(message)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise _user_error("the two passwords differ; nothing stored")
    return first


def _add_user(args: argparse.Namespace) -> int:
    settings = load_settings()
    path = settings.dashboard_users_path
    password = _read_password(args.password_stdin)
    try:
        new = auth.add_user(path, args.name, password)
    except auth.UsersFileError as exc:
        raise _user_error(str(exc)) from exc
    print(f"{'added' if new else 'new password for'} {args.name} in {path}")
    return 0


def check_login(settings: Settings) -> None:
    """Refuse to serve a dashboard that needs a login nobody can give."""
    try:
        users = auth.load(settings.dashboard_users_path)
    except auth.UsersFileError as exc:
        raise _user_error(str(exc)) from exc
    if auth.login_required(settings, users) and not users:
        raise _user_error(
            f"the dashboard on {settings.host} requires a login and "
            f"{settings.dashboard_users_path} has no users; add one with "
            "`fraudstream dashboard add-user NAME`"
        )


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
    check_login(settings)
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
