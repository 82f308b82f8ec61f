"""Dashboard users and passwords: hashing, checking, when login is required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraudstream.config import Settings
from fraudstream.dashboard import auth

PASSWORD = "correct horse battery"


def test_added_user_logs_in_with_the_right_password_only(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    assert auth.add_user(path, "ana", PASSWORD) is True
    users = auth.load(path)
    assert users.verify("ana", PASSWORD)
    assert not users.verify("ana", "wrong password!")
    assert not users.verify("ana", "")
    assert not users.verify("bob", PASSWORD)
    assert not users.verify("", PASSWORD)


def test_the_file_holds_an_argon2_hash_never_the_password(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    auth.add_user(path, "ana", PASSWORD)
    text = path.read_text()
    assert PASSWORD not in text
    assert json.loads(text)["users"]["ana"].startswith("$argon2id$")
    assert path.stat().st_mode & 0o777 == 0o600


def test_adding_again_replaces_the_password(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    auth.add_user(path, "ana", PASSWORD)
    assert auth.add_user(path, "ana", "another long one") is False
    users = auth.load(path)
    assert users.verify("ana", "another long one") and not users.verify("ana", PASSWORD)


@pytest.mark.parametrize(
    ("name", "password"), [("", PASSWORD), ("a b", PASSWORD), ("-x", PASSWORD), ("ana", "short")]
)
def test_bad_names_and_short_passwords_are_refused(
    tmp_path: Path, name: str, password: str
) -> None:
    with pytest.raises(auth.UsersFileError):
        auth.add_user(tmp_path / "users.json", name, password)
    assert not (tmp_path / "users.json").exists()


def test_a_tampered_hash_never_verifies(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"ana": "plain-text-password"}}))
    assert not auth.load(path).verify("ana", "plain-text-password")


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text("{not json")
    with pytest.raises(auth.UsersFileError, match="cannot read"):
        auth.load(path)
    path.write_text(json.dumps({"users": ["ana"]}))
    with pytest.raises(auth.UsersFileError, match="not a dashboard users file"):
        auth.load(path)


def test_login_is_required_off_loopback_with_users_or_when_asked(tmp_path: Path) -> None:
    none = auth.Users({})
    some = auth.Users({"ana": "x"})
    local = Settings(home=tmp_path, host="127.0.0.1")
    assert not auth.login_required(local, none)
    assert auth.login_required(local, some)
    assert auth.login_required(Settings(home=tmp_path, host="0.0.0.0"), none)
    assert auth.login_required(Settings(home=tmp_path, host="10.1.2.3"), none)
    assert not auth.login_required(Settings(home=tmp_path, host="::1"), none)
    assert auth.login_required(Settings(home=tmp_path, dashboard_login="required"), none)
