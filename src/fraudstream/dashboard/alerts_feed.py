"""The dashboard's live alert window: one Kafka consumer per server process.

A background thread consumes ``settings.topic_alerts`` (read-committed, its own
consumer group) from the latest offsets when it first sees a partition, and
keeps the most recent alerts in a bounded, de-duplicated window that every
browser session reads. History is never re-read from Kafka: it comes from
PostgreSQL.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from fraudstream.config import Settings
from fraudstream.records import Alert

log = logging.getLogger(__name__)
# librdkafka reports every failed reconnect; during an outage that is a line
# every few hundred milliseconds. The feed's status (on the page, and one log
# line per change below) says the same once, so its own log is muted.
_client_log = logging.getLogger(f"{__name__}.librdkafka")
_client_log.setLevel(logging.CRITICAL)

# How often the consumer thread checks that the cluster answers, so a Kafka
# outage (and its end) shows on the page within a few seconds.
PROBE_INTERVAL = 3.0
PROBE_TIMEOUT = 2.0


def default_group_id() -> str:
    return f"fraudstream-dashboard-{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class FeedStatus:
    """What the page tells the analyst about the live feed."""

    connected: bool
    assigned_partitions: int
    window_size: int
    received: int
    duplicates: int
    invalid: int
    last_message_at: float | None
    error: str | None
    group_id: str
    topic: str

    @property
    def live(self) -> bool:
        return self.connected and self.assigned_partitions > 0


def consumer_config(settings: Settings, group_id: str) -> dict[str, Any]:
    return {
        **settings.kafka_client_config("dashboard"),
        "group.id": group_id,
        "client.id": group_id,
        "isolation.level": "read_committed",
        "auto.offset.reset": "latest",
        # Commits only serve a rebalance within this process's lifetime, so a
        # Kafka hiccup does not leave a gap; a new process starts at the end.
        "enable.auto.commit": True,
        "enable.partition.eof": False,
        "session.timeout.ms": 10000,
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.ms": 250,
        "reconnect.backoff.max.ms": 2000,
        "logger": _client_log,
    }


class AlertWindow:
    """The newest ``capacity`` alerts, unique by alert_id; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Alert] = OrderedDict()
        self._lock = threading.Lock()
        self.duplicates = 0
        self.version = 0  # bumped on every change, so readers can cache

    def add(self, alert: Alert) -> bool:
        """Add an alert; False when its id is already in the window. A later hit
        of an episode (same id, more hits) updates the alert in place."""
        with self._lock:
            known = self._items.get(alert.alert_id)
            if known is not None:
                if alert.hits > known.hits:
                    self._items[alert.alert_id] = alert  # keeps its place
                    self.version += 1
                    return False
                self.duplicates += 1
                return False
            self._items[alert.alert_id] = alert
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            self.version += 1
            return True

    def snapshot(self) -> list[Alert]:
        """Alerts in arrival order, oldest first."""
        return self.versioned()[1]

    def versioned(self) -> tuple[int, list[Alert]]:
        """The version and the alerts of that version, read together."""
        with self._lock:
            return self.version, list(self._items.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def decode_alert(raw: bytes) -> Alert:
    """One Kafka value to an Alert; ValueError when it is not one."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in ("alert_id", "rule_id", "detected_at") if not data.get(name)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return Alert.from_dict(data)


class AlertFeed:
    """A consumer thread filling an AlertWindow."""

    def __init__(self, settings: Settings, group_id: str | None = None) -> None:
        self.topic = settings.topic_alerts
        self.group_id = group_id or settings.dashboard_group_id or default_group_id()
        self.window = AlertWindow(settings.dashboard_window)
        self._config = consumer_config(settings, self.group_id)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connected = False
        self._error: str | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._seen_partitions: set[tuple[str, int]] = set()
        self._received = 0
        self._invalid = 0
        self._last_message_at: float | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"alert-feed-{self.topic}", daemon=True
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> AlertFeed:
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- reading ---------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        return self.window.snapshot()

    def status(self) -> FeedStatus:
        with self._lock:
            return FeedStatus(
                connected=self._connected,
                assigned_partitions=len(self._assigned),
                window_size=len(self.window),
                received=self._received,
                duplicates=self.window.duplicates,
                invalid=self._invalid,
                last_message_at=self._last_message_at,
                error=self._error,
                group_id=self.group_id,
                topic=self.topic,
            )

    # -- the thread --------------------------------------------------------------
    def _on_error(self, error: KafkaError) -> None:
        with self._lock:
            self._error = error.str()
            if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
                self._set_connected(False)

    def _set_connected(self, connected: bool) -> None:
        # Called with self._lock held.
        if connected != self._connected:
            if connected:
                log.info("alert feed connected to Kafka (topic %s)", self.topic)
            else:
                log.warning("alert feed lost Kafka: %s", self._error)
        self._connected = connected

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            # Only the first time: a later rebalance resumes where it was.
            if key not in self._seen_partitions:
                tp.offset = OFFSET_END
                self._seen_partitions.add(key)
        consumer.assign(partitions)
        with self._lock:
            self._assigned.update((tp.topic, tp.partition) for tp in partitions)
        log.info("alert feed assigned %s", [(tp.topic, tp.partition) for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        del consumer
        with self._lock:
            self._assigned.difference_update((tp.topic, tp.partition) for tp in partitions)

    def _probe(self, consumer: Consumer) -> None:
        try:
            metadata = consumer.list_topics(self.topic, timeout=PROBE_TIMEOUT)
        except KafkaException as exc:
            with self._lock:
                self._error = str(exc.args[0]) if exc.args else repr(exc)
                self._set_connected(False)
            return
        topic = metadata.topics.get(self.topic)
        with self._lock:
            self._set_connected(True)
            if topic is None or topic.error is not None:
                self._error = f"topic {self.topic!r} not available"
            else:
                self._error = None

    def _run(self) -> None:
        consumer = Consumer({**self._config, "error_cb": self._on_error})
        try:
            consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
            next_probe = 0.0
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_probe:
                    self._probe(consumer)
                    next_probe = now + PROBE_INTERVAL
                message = consumer.poll(0.5)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        self._on_error(error)
                    continue
                self._handle(message.value() or b"")
        except Exception:
            log.exception("alert feed stopped unexpectedly")
            with self._lock:
                self._connected = False
                self._error = "the live feed stopped; restart the dashboard"
        finally:
            consumer.close()

    def _handle(self, raw: bytes) -> None:
        try:
            alert = decode_alert(raw)
        except (ValueError, TypeError) as exc:
            log.warning("skipping a record on %s that is not an alert: %s", self.topic, exc)
            with self._lock:
                self._invalid += 1
            return
        self.window.add(alert)
        with self._lock:
            self._received += 1
            self._set_connected(True)
            self._last_message_at = time.time()


_feeds: list[AlertFeed] = []
_feeds_lock = threading.Lock()


def start_feed(settings: Settings) -> AlertFeed:
    """A new running feed; the process stops every feed it started at exit."""
    with _feeds_lock:
        group = settings.dashboard_group_id or default_group_id()
        if _feeds:
            # Tests run several apps in one process; each gets its own group.
            group = f"{group}-{len(_feeds)}"
        feed = AlertFeed(settings, group_id=group).start()
        _feeds.append(feed)
    return feed


@atexit.register
def stop_all_feeds() -> None:
    with _feeds_lock:
        feeds = list(_feeds)
        _feeds.clear()
    for feed in feeds:
        feed.request_stop()
    for feed in feeds:
        feed.stop(timeout=5.0)
