"""Dashboard login in headless Chromium: a wrong password is refused, the right
one lets the analyst in, and a triage verdict is stored under the analyst's
name. The dashboard reads and writes the archive as its own PostgreSQL role.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from fraudstream.archive import roles
from fraudstream.config import Settings
from fraudstream.dashboard import auth
from fraudstream.platform import procs
from fraudstream.platform.ports import free_port

from ..conftest import ARTIFACTS
from .conftest import start_dashboard, with_overrides
from .seed import Seeded
from .test_browser import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "analyst password 1"
pytestmark = pytest.mark.browser


def _as_dashboard_role(settings: Settings) -> str:
    """The module database's DSN, logged in as the dashboard's role."""
    parts = urlsplit(settings.dsn)
    password = settings.postgres_dashboard_password.get_secret_value()
    netloc = f"{settings.postgres_dashboard_user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def login_dashboard(
    dash_settings: Settings, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    users = tmp_path_factory.mktemp("users") / "dashboard-users.json"
    auth.add_user(users, "ana", PASSWORD)
    roles.apply(
        dash_settings.dsn, dash_settings.postgres_job_user, dash_settings.postgres_dashboard_user
    )
    port = free_port()
    settings = with_overrides(
        dash_settings,
        dashboard_port=port,
        dashboard_users_file=users,
        postgres_dashboard_dsn=_as_dashboard_role(dash_settings),
    )
    proc = start_dashboard(settings, f"dashboard-login-{port}")
    try:
        yield settings
    finally:
        procs.stop(proc)
        if proc.log_file.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(proc.log_file, ARTIFACTS / "dashboard-login.log")


def _sign_in(page: object, name: str, password: str) -> None:
    page.get_by_label("User", exact=True).fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]


def test_login_then_triage_records_the_analyst(login_dashboard: Settings) -> None:
    from playwright.sync_api import sync_playwright

    url = f"http://{login_dashboard.host}:{login_dashboard.dashboard_port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/", wait_until="domcontentloaded")
            page.get_by_text("fraudstream: sign in").wait_for(timeout=60_000)
            # Wrong password: refused, nothing of the dashboard shown.
            _sign_in(page, "ana", "not the password")
            page.get_by_text("Wrong user name or password.").wait_for(timeout=30_000)
            assert page.get_by_text("Transactions/s").count() == 0
            # Unknown user: refused the same way.
            _sign_in(page, "mallory", PASSWORD)
            page.get_by_text("Wrong user name or password.").wait_for(timeout=30_000)
            # Right password: in.
            _sign_in(page, "ana", PASSWORD)
            page.get_by_text("Signed in as").wait_for(timeout=30_000)
            page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
            page.get_by_role("link", name="Triage").click()
            page.get_by_text("Recorded as").wait_for(timeout=30_000)
            assert page.get_by_label("Analyst (optional)").count() == 0
            page.get_by_role("button", name="Save verdict").click()
            saved = page.get_by_text(re.compile(r"Saved: .* for case \S+ \(\d+ alerts?\)"))
            saved.wait_for(timeout=30_000)
            case_prefix = saved.inner_text().split(" for case ", 1)[1].split(" ", 1)[0]
            page.screenshot(path=str(ARTIFACTS / "dashboard-triage-login.png"))
        finally:
            browser.close()
    with psycopg.connect(login_dashboard.dsn) as conn:
        # A case is named after its first alert, so that alert's verdict is
        # among the case's (an 8-character prefix of an md5 id).
        rows = conn.execute(
            "SELECT DISTINCT analyst FROM alert_triage WHERE alert_id LIKE %s",
            (f"{case_prefix}%",),
        ).fetchall()
    assert rows == [("ana",)]


def test_the_dashboard_role_cannot_touch_the_job_tables(login_dashboard: Settings) -> None:
    with (
        psycopg.connect(login_dashboard.dashboard_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM alerts")


def test_users_file_is_readable_by_its_owner_only(login_dashboard: Settings) -> None:
    path = Path(login_dashboard.dashboard_users_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in path.read_text()
