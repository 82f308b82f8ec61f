"""End to end in headless Chromium: a real `fraudstream dashboard` process, alerts
flowing on Kafka, and a newly injected alert shown on the alerts page.

Alerts are produced straight to a per-test alerts topic (and archived to the
per-module database, as the detection job's sink would), so the test does not
depend on the Flink job being deployed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import requests
from confluent_kafka import Producer

from fraudstream.config import Settings, env_for
from fraudstream.platform import procs
from fraudstream.platform.ports import free_port

from ..conftest import ARTIFACTS
from .conftest import with_overrides
from .seed import Seeded, insert_alerts, insert_transactions, make_alert, tx_row

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.browser


class AlertStream:
    """Background traffic: one alert every ``interval`` s, to Kafka and the archive."""

    def __init__(self, settings: Settings, interval: float = 0.4, limit: int = 600) -> None:
        self.settings = settings
        self.interval = interval
        self.limit = limit
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.producer = Producer(settings.kafka_client_config())

    def _run(self) -> None:
        cards = ("visa", "mc", "amex")
        rules = (("high-amount", "high"), ("card-velocity-1m", "medium"), ("amount-spike", "low"))
        with psycopg.connect(self.settings.dsn, autocommit=True) as conn:
            while not self._stop.is_set() and self.sent < self.limit:
                n = self.sent
                tx = tx_row(
                    bank=("BANK_A", "BANK_B")[n % 2],
                    card=cards[n % 3],
                    user=500 + n % 11,
                    amount=50.0 + 37 * (n % 9),
                    country=("DE", "FR", "US", "GB")[n % 4],
                    when=datetime.now(UTC) - timedelta(milliseconds=300),
                    merchant=f"Merchant {n % 6}",
                )
                rule, severity = rules[n % 3]
                alert = make_alert(tx, rule=rule, severity=severity, latency=0.3)
                self.producer.produce(
                    self.settings.topic_alerts,
                    json.dumps(alert.to_dict()).encode(),
                    key=alert.card_token,
                )
                self.producer.flush(5)
                insert_transactions(conn, [tx])
                insert_alerts(conn, [alert])
                self.sent += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> AlertStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def dashboard(dash_settings: Settings, seeded: Seeded) -> Iterator[Settings]:
    """`fraudstream dashboard` on a free port, ready (health endpoint answers)."""
    port = free_port()
    settings = with_overrides(dash_settings, dashboard_port=port)
    proc = procs.spawn(
        f"dashboard-test-{port}",
        [sys.executable, "-m", "fraudstream.cli", "dashboard", "--port", str(port)],
        run_dir=settings.run_dir,
        logs_dir=settings.logs_dir,
        env=env_for(settings),
    )
    url = f"http://{settings.host}:{port}"
    try:
        procs.wait_until(
            lambda: requests.get(f"{url}/_stcore/health", timeout=2).text == "ok",
            timeout=60,
            component="dashboard",
            what="/_stcore/health",
            log_file=proc.log_file,
            proc=proc,
        )
        yield settings
    finally:
        pid = proc.pid()
        children = psutil.Process(pid).children(recursive=True) if pid and proc.alive() else []
        if pid is not None:
            # SIGTERM to the command alone: it must stop its streamlit child itself.
            os.kill(pid, signal.SIGTERM)
            procs.wait_until(
                lambda: (
                    not proc.alive()
                    and not any(
                        c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children
                    )
                ),
                timeout=30,
                component="dashboard",
                what="a clean stop on SIGTERM",
                log_file=proc.log_file,
            )
        procs.stop(proc)
        target = ARTIFACTS / "dashboard.log"
        target.parent.mkdir(parents=True, exist_ok=True)
        if proc.log_file.exists():
            shutil.copyfile(proc.log_file, target)
    assert "dashboard stopped" in proc.log_file.read_text()


def test_injected_alert_appears_in_the_browser(dashboard: Settings, seeded: Seeded) -> None:
    from playwright.sync_api import sync_playwright

    url = f"http://{dashboard.host}:{dashboard.dashboard_port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{url}/alerts", wait_until="domcontentloaded")
            # The feed joined its partitions: from here on nothing is missed.
            page.get_by_text("live on", exact=False).first.wait_for(timeout=60_000)
            with AlertStream(dashboard) as stream:
                page.get_by_text("Merchant", exact=False).first.wait_for(timeout=30_000)
                marker = f"injected {uuid.uuid4().hex[:8]}"
                tx = tx_row(
                    bank="BANK_C",
                    card="amex",
                    user=99,
                    amount=9999.0,
                    country="BR",
                    when=datetime.now(UTC),
                    merchant="Injected Shop",
                )
                alert = make_alert(
                    tx, rule="impossible-travel", severity="critical", latency=0.1, reason=marker
                )
                producer = Producer(dashboard.kafka_client_config())
                producer.produce(dashboard.topic_alerts, json.dumps(_payload(alert)).encode())
                producer.flush(10)
                started = time.monotonic()
                page.get_by_text(marker).first.wait_for(timeout=15_000)
                elapsed = time.monotonic() - started
                print(
                    f"injected alert visible after {elapsed:.2f} s "
                    f"({stream.sent} background alerts sent)"
                )
                assert elapsed < 10
                page.screenshot(path=str(ARTIFACTS / "dashboard-alerts.png"), full_page=False)
                # The default page lives at the root URL.
                page.goto(f"{url}/", wait_until="domcontentloaded")
                page.get_by_text("Transactions/s").first.wait_for(timeout=30_000)
                page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
                page.get_by_text("BANK_B").first.wait_for(timeout=30_000)
                page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
        finally:
            browser.close()
    assert Path(ARTIFACTS / "dashboard-alerts.png").stat().st_size > 10_000


def _payload(alert: Any) -> dict[str, Any]:
    data: dict[str, Any] = alert.to_dict()
    return data
