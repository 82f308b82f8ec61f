"""Dashboard users: names with argon2id password hashes, kept in a JSON file.

The file (``settings.dashboard_users_path``) holds only hashes made by
argon2-cffi; ``fraudstream dashboard add-user`` writes it. Login is required
whenever the dashboard binds an address other than loopback, whenever users
exist, or always with ``dashboard_login=required``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from fraudstream.config import Settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the name is unknown, so an unknown name costs as much
# time as a wrong password and does not reveal which names exist.
_DUMMY_HASH = _HASHER.hash("no user has this password")


class UsersFileError(ValueError):
    """The users file cannot be read, or a new entry is not acceptable."""


@dataclass(frozen=True)
class Users:
    """Analyst name -> argon2 hash."""

    hashes: dict[str, str]

    def verify(self, name: str, password: str) -> bool:
        """True when ``password`` is ``name``'s; never raises on bad input."""
        stored = self.hashes.get(name.strip())
        try:
            _HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored is not None

    def __bool__(self) -> bool:
        return bool(self.hashes)


def load(path: Path) -> Users:
    """The users in ``path``; none when the file does not exist."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Users({})
    except (OSError, ValueError) as exc:
        raise UsersFileError(f"cannot read the dashboard users file {path}: {exc}") from exc
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in users.items()
    ):
        raise UsersFileError(f"{path} is not a dashboard users file ({{'users': {{name: hash}}}})")
    return Users(dict(users))


def validate(name: str, password: str) -> None:
    if not NAME.match(name):
        raise UsersFileError(
            f"user name {name!r}: 1-64 letters, digits and . _ @ - (starting with a letter "
            "or digit)"
        )
    if len(password) < MIN_PASSWORD:
        raise UsersFileError(f"the password must have at least {MIN_PASSWORD} characters")


def add_user(path: Path, name: str, password: str) -> bool:
    """Store ``name`` with a fresh hash of ``password``; True if the name was new.

    The file is replaced atomically and readable by its owner only.
    """
    validate(name, password)
    users = load(path).hashes
    new = name not in users
    users[name] = _HASHER.hash(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"users": users}, handle, indent=2, sort_keys=True)
            handle.write("\n")
        Path(tmp).chmod(0o600)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_required(settings: Settings, users: Users) -> bool:
    return settings.dashboard_login == "required" or bool(users) or not is_loopback(settings.host)
