"""Helpers for the simulator's integration tests: consume a topic back, run the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from fraudstream.config import Settings, env_for


def consume_all(
    settings: Settings, topic: str, group: str, expected: int, *, settle: float = 2.0
) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record: until ``expected`` arrived, then ``settle``
    more seconds of polling so duplicates would show up too."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 90
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if quiet_until is not None and time.monotonic() > quiet_until:
                break
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                if msg.error():
                    continue
                got.append((msg.key(), msg.value()))
            if len(got) >= expected and quiet_until is None:
                quiet_until = time.monotonic() + settle
    finally:
        consumer.close()
    return got


def run_cli(
    settings: Settings, *argv: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudstream.cli", *argv],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli(settings: Settings):  # type: ignore[no-untyped-def]
    def call(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return run_cli(settings, *argv, timeout=timeout)

    return call


@pytest.fixture
def sim_topic(new_topic: Callable[..., str], admin: AdminClient) -> Iterator[Callable[[str], str]]:
    """``new_topic``, deleted after the test: these topics hold up to ~100k records."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(new_topic(prefix))
        return made[-1]

    yield make
    if made:
        for future in admin.delete_topics(made, operation_timeout=30).values():
            future.result()
