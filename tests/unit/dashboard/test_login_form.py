"""The sign-in form in front of every page (AppTest; no services: a session
that is not signed in never reaches the pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fraudstream.dashboard import app, auth

PASSWORD = "analyst password 1"


def _app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> AppTest:
    monkeypatch.setenv("FRAUDSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("FRAUDSTREAM_DASHBOARD_USERS_FILE", str(tmp_path / "users.json"))
    for name, value in env.items():
        monkeypatch.setenv(f"FRAUDSTREAM_{name}", value)
    at = AppTest.from_file(app.__file__, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_wrong_password_stays_on_the_sign_in_form(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    auth.add_user(tmp_path / "users.json", "ana", PASSWORD)
    at = _app(monkeypatch, tmp_path)
    assert at.title[0].value == "fraudstream: sign in"
    at.text_input(key="login_user").input("ana")
    at.text_input(key="login_password").input("not the password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert at.title[0].value == "fraudstream: sign in"
    assert "analyst" not in at.session_state


def test_off_loopback_without_users_nobody_gets_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = _app(monkeypatch, tmp_path, HOST="0.0.0.0")
    assert at.title[0].value == "fraudstream: sign in"
    assert "add-user" in at.error[0].value
    assert not at.text_input
