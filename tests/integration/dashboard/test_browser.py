"""End to end in headless Chromium: the detection job on the Flink cluster, a
bank producing transactions, a real `fraudstream dashboard` process, and a
fraud injected into the transactions topic showing on the alerts page.

Everything is the test's own: topics, database, job name and consumer groups.
The job runs a one-rule catalogue (high-amount) so it plans quickly and needs
one slot.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import psycopg
import pytest
from confluent_kafka import Producer

from fraudstream.archive import writer
from fraudstream.config import Settings
from fraudstream.detection import job
from fraudstream.platform import procs, topics
from fraudstream.platform.ports import free_port
from fraudstream.records import Transaction

from ..conftest import ARTIFACTS
from .conftest import start_dashboard, with_overrides
from .seed import Seeded

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
RULES = """\
rules:
  - id: high-amount
    type: high_amount
    severity: high
    description: Single transaction above an absolute limit
    params:
      threshold: 5000
"""
pytestmark = pytest.mark.browser


class Bank:
    """Background traffic into the transactions topic: ``rate`` per second, every
    ``fraud_every``-th one above the high-amount limit, bounded in count."""

    def __init__(self, settings: Settings, rate: float = 20, fraud_every: int = 25) -> None:
        self.settings = settings
        self.interval = 1 / rate
        self.fraud_every = fraud_every
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bank", daemon=True)

    def _run(self) -> None:
        producer = Producer(self.settings.kafka_client_config())
        cards = (("4111111111111111", "VISA"), ("5555555555554444", "MASTERCARD"))
        while not self._stop.is_set() and self.sent < 20_000:
            n = self.sent
            number, system = cards[n % 2]
            amount = 7500.0 + n if n % self.fraud_every == self.fraud_every - 1 else 10.0 + n % 90
            tx = Transaction(
                transaction_id=str(uuid.uuid4()),
                bank_id=("BANK_A", "BANK_B")[n % 2],
                payment_system=system,
                card_number=number,
                user_id=100 + n % 50,
                amount=amount,
                currency="EUR",
                merchant=f"Merchant {n % 7}",
                country=("DE", "FR", "NL", "US")[n % 4],
                timestamp=_now(),
            )
            producer.produce(self.settings.topic_transactions, tx.to_json())
            producer.poll(0)
            self.sent += 1
            self._stop.wait(self.interval)
        producer.flush(10)

    def start(self) -> Bank:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def pipeline(
    dash_settings: Settings, seeded: Seeded, admin: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The detection job, reading the module's transactions topic and writing its
    alerts topic and database, with a bank producing into it."""
    run = uuid.uuid4().hex[:10]
    names = {kind: f"{kind}-dash-{run}" for kind in ("tx", "dlq", "labels", "valid")}
    replication = min(dash_settings.topic_replication, len(dash_settings.kafka_broker_ports))
    isr = {"min.insync.replicas": str(dash_settings.topic_min_isr)}
    topics.ensure_topics(
        admin,  # type: ignore[arg-type]
        [topics.TopicSpec(name, 3, replication, isr) for name in names.values()],
    )
    settings = with_overrides(
        dash_settings,
        topic_transactions=names["tx"],
        topic_dlq=names["dlq"],
        topic_labels=names["labels"],
        topic_valid=names["valid"],
        detection_job_name=f"dashboard-e2e-{run}",
        detection_group_id=f"dashboard-e2e-{run}",
        detection_parallelism=1,
    )
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES)
    job_id = job.submit(settings, rules=rules)
    archiver = writer.Background(settings).start()
    bank: Bank | None = None
    try:
        job.wait_running(settings, job_id, timeout=180)
        bank = Bank(settings).start()
        yield settings
    finally:
        if bank is not None:
            bank.stop()
        job.cancel(settings, job_id)
        job.wait_terminal(settings, job_id)
        archiver.stop()
        admin.delete_topics(list(names.values()))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def dashboard(pipeline: Settings) -> Iterator[Settings]:
    """`fraudstream dashboard` on a free port, ready (health endpoint answers)."""
    port = free_port()
    settings = with_overrides(pipeline, dashboard_port=port)
    proc = start_dashboard(settings, f"dashboard-test-{port}")
    try:
        yield settings
    finally:
        pid = proc.pid()
        children = psutil.Process(pid).children(recursive=True) if pid and proc.alive() else []
        if pid is not None and proc.alive():
            # SIGTERM to the command alone: it must stop its streamlit child itself.
            os.kill(pid, signal.SIGTERM)
            procs.wait_until(
                lambda: not proc.alive() and not any(_running(c) for c in children),
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


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fraud(merchant: str) -> Transaction:
    return Transaction(
        transaction_id=str(uuid.uuid4()),
        bank_id="BANK_A",
        payment_system="AMEX",
        card_number="378282246310005",
        user_id=4242,
        amount=9876.5,
        currency="EUR",
        merchant=merchant,
        country="BR",
        timestamp=_now(),
    )


def test_injected_fraud_appears_in_the_browser(dashboard: Settings) -> None:
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
            # Alerts are flowing: the job's first high-amount finding is on the page.
            page.get_by_text("above the limit", exact=False).first.wait_for(timeout=60_000)
            merchant = f"Injected Fraud {uuid.uuid4().hex[:6]}"
            producer = Producer(dashboard.kafka_client_config())
            producer.produce(dashboard.topic_transactions, fraud(merchant).to_json())
            assert producer.flush(10) == 0
            started = time.monotonic()
            page.get_by_text(merchant).first.wait_for(timeout=60_000)
            shown_at = datetime.now(UTC)
            elapsed = time.monotonic() - started
            page.screenshot(path=str(ARTIFACTS / "dashboard-alerts.png"))
            # The job archived the bank's traffic: the overview shows it.
            page.goto(f"{url}/", wait_until="domcontentloaded")
            page.get_by_text("Transactions/s").first.wait_for(timeout=30_000)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"))
        finally:
            browser.close()
    assert Path(ARTIFACTS / "dashboard-alerts.png").stat().st_size > 10_000
    # The job archived the fraud and the bank's traffic.
    procs.wait_until(
        lambda: _count(dashboard, "alerts", merchant) == 1,
        timeout=30,
        component="detection job",
        what="the injected fraud's alert in PostgreSQL",
    )
    assert _count(dashboard, "transactions", "Merchant 0") > 0
    # Split the delay: detection (job) and display (dashboard). On a loaded
    # two-core machine the job's share varies most; the dashboard's must stay
    # within a few refresh periods.
    with psycopg.connect(dashboard.dsn) as conn:
        row = conn.execute(
            "SELECT detected_at FROM alerts WHERE merchant = %s", (merchant,)
        ).fetchone()
    assert row is not None
    display = (shown_at - row[0]).total_seconds()
    print(
        f"injected fraud on the alerts page {elapsed:.2f} s after it was produced; "
        f"{display:.2f} s after the job detected it"
    )
    assert display < 10
    assert elapsed < 45


def _count(settings: Settings, table: str, merchant: str) -> int:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE merchant = %s", (merchant,)
        ).fetchone()
    return int(row[0]) if row else 0
