"""With PostgreSQL or Kafka unreachable the pages show a banner, not a traceback,
and recover on the next refresh once the service answers again."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from streamlit.testing.v1 import AppTest

from fraudstream.config import Settings
from fraudstream.platform.ports import free_port

from .seed import Seeded

PAGES = ("overview", "alerts", "analytics", "rules", "triage")


def page_script(name: str) -> None:
    from importlib import import_module

    import_module(f"fraudstream.dashboard.views.{name}").render()


def dead_dsn(settings: Settings) -> str:
    parts = urlsplit(settings.dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{parts.username}:{parts.password}@{host}:{free_port()}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize("page", PAGES)
def test_postgres_down_shows_banner_then_recovers(
    app_env: Settings, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_POSTGRES_DSN", dead_dsn(app_env))
    at = AppTest.from_function(page_script, args=(page,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert any("PostgreSQL is unavailable" in e.value for e in at.error)

    monkeypatch.setenv("FRAUDSTREAM_POSTGRES_DSN", app_env.dsn)
    at.run()
    assert not at.exception, at.exception
    assert not at.error


def test_kafka_down_shows_banner(
    app_env: Settings, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    at = AppTest.from_function(page_script, args=("alerts",), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert any("Kafka is unavailable" in w.value for w in at.warning)
    # History still comes from PostgreSQL: the 4 alerts of the last hour in 3 cases.
    assert len(at.table) == 1 and len(at.table[0].value) == 3
