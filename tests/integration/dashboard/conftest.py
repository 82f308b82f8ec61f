"""Dashboard fixtures: a fresh, seeded database and an alerts topic per module."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
import streamlit as st
from confluent_kafka import Producer
from pydantic import SecretStr

from fraudstream.archive.migrate import migrate
from fraudstream.config import ENV_PREFIX, Settings, env_for
from fraudstream.dashboard import alerts_feed
from fraudstream.platform import postgres, procs, topics

from .seed import Seeded, make_alert, seed, tx_row


def _dsn_for(settings: Settings, database: str) -> str:
    parts = urlsplit(settings.dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _admin(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    """The local server's superuser (the application role may not create databases),
    else the application role itself for a server we did not start."""
    if settings.postgres_local:
        try:
            return postgres.admin_connect(settings)
        except psycopg.OperationalError:
            pass
    return psycopg.connect(settings.dsn, autocommit=True)


def start_dashboard(settings: Settings, name: str) -> procs.ManagedProcess:
    """`fraudstream dashboard` as ``settings`` say, started and answering its
    health endpoint; the caller stops it."""
    proc = procs.spawn(
        name,
        [
            sys.executable,
            "-m",
            "fraudstream.cli",
            "dashboard",
            "--port",
            str(settings.dashboard_port),
        ],
        run_dir=settings.run_dir,
        logs_dir=settings.logs_dir,
        env=env_for(settings),
    )
    url = f"http://{settings.host}:{settings.dashboard_port}"
    try:
        procs.wait_until(
            lambda: requests.get(f"{url}/_stcore/health", timeout=2).text == "ok",
            timeout=60,
            component="dashboard",
            what="/_stcore/health",
            log_file=proc.log_file,
            proc=proc,
        )
    except BaseException:
        procs.stop(proc)
        raise
    return proc


def with_overrides(settings: Settings, **values: object) -> Settings:
    # A fresh object: model_copy would carry the cached DSN of the original.
    return Settings(**{**settings.model_dump(), **values})


@pytest.fixture(scope="module")
def dash_settings(settings: Settings, admin: object) -> Iterator[Settings]:
    """Settings for one test module: its own database and alerts topic."""
    database = f"dash_{uuid.uuid4().hex[:12]}"
    with _admin(settings) as conn:
        conn.execute(f'CREATE DATABASE "{database}" OWNER "{settings.postgres_user}"')
    topic = f"alerts-dash-{uuid.uuid4().hex[:12]}"
    replication = min(settings.topic_replication, len(settings.kafka_broker_ports))
    topics.ensure_topics(
        admin,  # type: ignore[arg-type]
        [
            topics.TopicSpec(
                topic, 3, replication, {"min.insync.replicas": str(settings.topic_min_isr)}
            )
        ],
    )
    dsn = _dsn_for(settings, database)
    migrate(dsn)
    _publish_history(settings, topic)
    try:
        yield with_overrides(
            settings,
            postgres_dsn=SecretStr(dsn),
            topic_alerts=topic,
            dashboard_refresh_seconds=1.0,
        )
    finally:
        alerts_feed.stop_all_feeds()
        st.cache_resource.clear()
        with _admin(settings) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.delete_topics([topic])  # type: ignore[attr-defined]


HISTORY_REASON = "published before the dashboard started"


def _publish_history(settings: Settings, topic: str) -> None:
    """An alert already on the topic: a dashboard starting later must not show it
    from Kafka (its history comes from PostgreSQL)."""
    tx = tx_row(
        bank="BANK_H", card="visa", user=1, amount=1.0, country="DE", when=datetime.now(UTC)
    )
    alert = make_alert(tx, rule="high-amount", severity="low", latency=0.1, reason=HISTORY_REASON)
    producer = Producer(settings.kafka_client_config())
    producer.produce(topic, json.dumps(alert.to_dict()).encode())
    assert producer.flush(10) == 0


@pytest.fixture(scope="module")
def seeded(dash_settings: Settings) -> Seeded:
    return seed(dash_settings.dsn)


@pytest.fixture
def app_env(dash_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the in-process app (AppTest) at this module's database and topic."""
    for name, value in env_for(dash_settings).items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    return dash_settings
