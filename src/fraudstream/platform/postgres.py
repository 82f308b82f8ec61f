"""A project-owned PostgreSQL cluster in the runtime folder.

``initdb`` and ``postgres`` refuse to run as root, so when we are root the
server runs as an unprivileged OS user (``postgres`` by default) that owns the
data folder. The server listens on TCP (password auth for the application
role) and on a private Unix socket (trust, for set-up only).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from fraudstream.config import Settings
from fraudstream.platform.jvm import PrerequisiteError

log = logging.getLogger(__name__)

APT_HINT = "apt-get update && apt-get install -y postgresql"
SUPERUSER = "postgres"


def bin_dir() -> Path:
    """The newest installed server's bin folder (Debian layout, then PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise PrerequisiteError(
        "PostgreSQL server binaries (initdb, postgres) are not installed. "
        f"Install them with: {APT_HINT} — or point FRAUDSTREAM_POSTGRES_DSN at an existing server"
    )


def data_dir(settings: Settings) -> Path:
    return settings.data_dir / "postgres"


def socket_dir(settings: Settings) -> Path:
    return settings.run_dir / "pgsocket"


def os_user(settings: Settings) -> str | None:
    """The account to run the server as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(settings.postgres_os_user)
    except KeyError as exc:
        raise PrerequisiteError(
            f"running as root, PostgreSQL needs an unprivileged user "
            f"{settings.postgres_os_user!r}; create it with: "
            f"useradd --system {settings.postgres_os_user} (installing postgresql does)"
        ) from exc
    return settings.postgres_os_user


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    shutil.chown(path, entry.pw_uid, entry.pw_gid)


def _run_as(argv: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv, capture_output=True, text=True, check=False, cwd="/", **kwargs
    )


def initialized(settings: Settings) -> bool:
    return (data_dir(settings) / "PG_VERSION").is_file()


def init(settings: Settings) -> None:
    """initdb into the runtime folder (once)."""
    if initialized(settings):
        return
    user = os_user(settings)
    directory = data_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    _chown(directory, user)
    directory.chmod(0o700)
    result = _run_as(
        [
            str(bin_dir() / "initdb"),
            "-D",
            str(directory),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ],
        user,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")


def clear_stale_lock(settings: Settings) -> bool:
    """Remove ``postmaster.pid`` left by a server that was killed; True if removed.

    PostgreSQL clears the lock itself when its pid is dead, but refuses to
    start when the pid now belongs to another process, which is common after
    a reboot or a container restart recycled the pids. A server still
    running on this data folder is a ``postgres`` process and is left alone.
    """
    lock = data_dir(settings) / "postmaster.pid"
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except FileNotFoundError:
        return False  # the pid is free: PostgreSQL handles that case itself
    except OSError:
        return False  # cannot tell whose it is: let PostgreSQL decide
    if Path(command.decode(errors="replace")).name.startswith(("postgres", "postmaster")):
        return False
    log.warning("removing stale %s: pid %d is now another program", lock, pid)
    lock.unlink(missing_ok=True)
    return True


def prepare_socket_dir(settings: Settings) -> Path:
    path = socket_dir(settings)
    path.mkdir(parents=True, exist_ok=True)
    _chown(path, os_user(settings))
    path.chmod(0o700)
    return path


def server_argv(settings: Settings) -> list[str]:
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(data_dir(settings)),
        "-p",
        str(settings.postgres_port),
        "-c",
        f"listen_addresses={settings.host}",
        "-c",
        f"unix_socket_directories={socket_dir(settings)}",
        "-c",
        "max_connections=100",
        "-c",
        "shared_buffers=128MB",
        "-c",
        "synchronous_commit=on",
        "-c",
        "logging_collector=off",
    ]


def spawn_user(settings: Settings) -> tuple[int, int] | None:
    user = os_user(settings)
    if user is None:
        return None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, grp.getgrgid(entry.pw_gid).gr_gid


def admin_connect(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    """Superuser connection over the private socket (trust auth)."""
    return psycopg.connect(
        host=str(socket_dir(settings)),
        port=settings.postgres_port,
        user=SUPERUSER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


def component_roles(settings: Settings) -> list[tuple[str, str]]:
    """(role, password) of every role the local server gets: owner, job, dashboard."""
    return [
        (settings.postgres_user, settings.postgres_password.get_secret_value()),
        (settings.postgres_job_user, settings.postgres_job_password.get_secret_value()),
        (
            settings.postgres_dashboard_user,
            settings.postgres_dashboard_password.get_secret_value(),
        ),
    ]


def ensure_role(conn: psycopg.Connection[tuple[object, ...]], role: str, password: str) -> None:
    """Create ``role`` (login, no other attribute) or reset its password and attributes."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
    conn.execute(
        sql.SQL(
            "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}"
        ).format(verb, sql.Identifier(role), sql.Literal(password))
    )


def ensure_database(settings: Settings) -> None:
    """Create the roles and the database if missing; (re)set the roles' passwords."""
    with admin_connect(settings) as conn:
        for role, password in component_roles(settings):
            ensure_role(conn, role, password)
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_db,)
        ).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(settings.postgres_db), sql.Identifier(settings.postgres_user)
                )
            )


def ping(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


# Refusals that waiting does not fix, as libpq words them on connection
# failures (those carry no SQLSTATE).
_PERMANENT_MESSAGES = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "authentication failed",
)


def transient(exc: BaseException) -> bool:
    """True for errors of a server that is starting, stopping or not listening yet.

    "the database system is starting up" (57P03), a refused connection, a
    server shutting down (57P01): worth another try. Wrong credentials, a
    missing database or role, and SQL errors are not.
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    if state.startswith("28") or state == "3D000":
        return False
    message = str(exc).lower()
    return not any(text in message for text in _PERMANENT_MESSAGES)
