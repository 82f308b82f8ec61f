from __future__ import annotations

import json

import pytest

from fraudstream.config import Settings
from fraudstream.dashboard import alerts_feed
from fraudstream.dashboard.alerts_feed import AlertWindow, decode_alert
from fraudstream.records import Alert


def make(n: int) -> Alert:
    return Alert(
        alert_id=f"a{n}",
        rule_id="r",
        rule_type="t",
        severity="low",
        score=0.1,
        reason="x",
        transaction_id=f"tx{n}",
        card_masked="m",
        card_token="k",
        bank_id="B",
        user_id=1,
        amount=1.0,
        currency="EUR",
        merchant="M",
        country="DE",
        payment_system="VISA",
        event_time="2025-12-16T10:30:45.123Z",
        detected_at="2025-12-16T10:30:46.000Z",
    )


def test_window_is_bounded_and_keeps_newest() -> None:
    window = AlertWindow(3)
    for n in range(5):
        assert window.add(make(n))
    assert [a.alert_id for a in window.snapshot()] == ["a2", "a3", "a4"]
    assert len(window) == 3


def test_window_drops_redelivered_alerts() -> None:
    window = AlertWindow(10)
    assert window.add(make(1))
    assert not window.add(make(1))
    assert len(window) == 1 and window.duplicates == 1


def test_decode_alert_round_trip() -> None:
    alert = make(1)
    raw = json.dumps(alert.to_dict()).encode()
    assert decode_alert(raw) == alert


@pytest.mark.parametrize("raw", [b"not json", b"[1]", b'{"alert_id": "x"}', b"\xff"])
def test_decode_alert_rejects(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_alert(raw)


def test_consumer_config_reads_committed_from_latest() -> None:
    config = alerts_feed.consumer_config(Settings(), "g1")
    assert config["isolation.level"] == "read_committed"
    assert config["auto.offset.reset"] == "latest"
    assert config["group.id"] == "g1"
    assert config["bootstrap.servers"] == Settings().bootstrap_servers


def test_default_group_is_unique_per_process() -> None:
    import os

    assert alerts_feed.default_group_id().endswith(f"-{os.getpid()}")
    assert alerts_feed.default_group_id().startswith("fraudstream-dashboard-")


def test_group_from_settings() -> None:
    feed = alerts_feed.AlertFeed(Settings(dashboard_group_id="analysts", dashboard_window=5))
    assert feed.group_id == "analysts"
    assert feed.window.capacity == 5
    status = feed.status()
    assert not status.live and status.window_size == 0


class FakeTopic:
    def __init__(self, error: object = None) -> None:
        self.error = error


class FakeMetadata:
    def __init__(self, topics: dict[str, FakeTopic]) -> None:
        self.topics = topics


class FakeConsumer:
    """Answers list_topics like a cluster that is down, then back."""

    def __init__(self) -> None:
        self.up = False

    def list_topics(self, topic: str, timeout: float) -> FakeMetadata:
        from confluent_kafka import KafkaError, KafkaException

        if not self.up:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "brokers down"))
        return FakeMetadata({topic: FakeTopic()})


def test_status_follows_the_cluster_down_and_back() -> None:
    feed = alerts_feed.AlertFeed(Settings(topic_alerts="alerts-x"), group_id="g")
    consumer = FakeConsumer()
    feed._probe(consumer)  # type: ignore[arg-type]
    status = feed.status()
    assert not status.connected and status.error is not None
    consumer.up = True
    feed._probe(consumer)  # type: ignore[arg-type]
    status = feed.status()
    assert status.connected and status.error is None


def test_missing_topic_is_reported() -> None:
    feed = alerts_feed.AlertFeed(Settings(topic_alerts="alerts-x"), group_id="g")

    class NoTopic(FakeConsumer):
        def list_topics(self, topic: str, timeout: float) -> FakeMetadata:
            return FakeMetadata({})

    feed._probe(NoTopic())  # type: ignore[arg-type]
    assert feed.status().connected
    assert "not available" in (feed.status().error or "")


def test_handle_skips_garbage_and_counts_duplicates() -> None:
    feed = alerts_feed.AlertFeed(Settings(), group_id="g")
    raw = json.dumps(make(1).to_dict()).encode()
    feed._handle(raw)
    feed._handle(raw)
    feed._handle(b"garbage")
    status = feed.status()
    assert status.window_size == 1 and status.duplicates == 1 and status.invalid == 1
    assert status.last_message_at is not None


def test_window_version_changes_only_when_alerts_change() -> None:
    window = AlertWindow(2)
    assert window.versioned() == (0, [])
    window.add(make(1))
    window.add(make(1))
    version, alerts = window.versioned()
    assert version == 1 and [a.alert_id for a in alerts] == ["a1"]


def test_a_later_hit_of_an_episode_updates_the_alert_in_place() -> None:
    from dataclasses import replace

    from fraudstream.dashboard.alerts_feed import AlertWindow

    window = AlertWindow(capacity=10)
    first = make(1)
    assert window.add(first)
    assert not window.add(replace(first, hits=3, last_transaction_id="t-3"))
    assert [a.hits for a in window.snapshot()] == [3]
    # A replay of the older publication does not undo it.
    assert not window.add(first)
    assert [a.hits for a in window.snapshot()] == [3]
    assert window.duplicates == 1
