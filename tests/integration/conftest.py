"""One real stack per test session: Kafka (KRaft, 1 controller + 3 brokers),
Flink (JobManager + TaskManager) and PostgreSQL, on free ports in a throwaway
runtime folder. Each test makes its own topics and consumer groups.

Set FRAUDSTREAM_TEST_EXTERNAL=1 to run against the stack described by the
FRAUDSTREAM_* environment instead (nothing is started or stopped then).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from fraudstream.config import Settings, load_settings
from fraudstream.platform import ports, topics
from fraudstream.platform.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.integration)


def _fresh_settings() -> Settings:
    # Not pytest's tmp_path: it is private to root (0700) and the PostgreSQL
    # server runs as an unprivileged user that must reach its data folder.
    home = Path(tempfile.mkdtemp(prefix="fraudstream-it-"))
    home.chmod(0o755)
    (controller, b1, b2, b3, rest, rpc, pg, dash) = ports.free_ports(8)
    return Settings(
        home=home,
        jvm_dir=REPO_ROOT / ".fraudstream" / "jvm",
        kafka_controller_port=controller,
        kafka_broker_ports=[b1, b2, b3],
        flink_rest_port=rest,
        flink_jobmanager_rpc_port=rpc,
        postgres_port=pg,
        dashboard_port=dash,
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if os.environ.get("FRAUDSTREAM_TEST_EXTERNAL"):
        yield Stack(load_settings())
        return
    settings = _fresh_settings()
    the_stack = Stack(settings)
    try:
        the_stack.up()
        yield the_stack
    finally:
        the_stack.down()
        # Keep the logs of this run for inspection, then drop the data.
        target = ARTIFACTS / "stack-logs"
        shutil.rmtree(target, ignore_errors=True)
        if settings.logs_dir.exists():
            shutil.copytree(settings.logs_dir, target)
        shutil.rmtree(settings.home, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return stack.settings


@pytest.fixture(scope="session")
def admin(settings: Settings) -> AdminClient:
    return topics.admin_client(settings)


@pytest.fixture
def new_topic(admin: AdminClient, settings: Settings) -> Callable[..., str]:
    """Create a uuid-named topic with the stack's durability settings."""

    def make(prefix: str = "test", partitions: int = 3) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        replication = min(settings.topic_replication, len(settings.kafka_broker_ports))
        spec = topics.TopicSpec(
            name, partitions, replication, {"min.insync.replicas": str(settings.topic_min_isr)}
        )
        topics.ensure_topics(admin, [spec])
        return name

    return make


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg(settings: Settings) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        yield conn
