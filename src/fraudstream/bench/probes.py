"""What the benchmarks read from the running pipeline: Kafka offsets, archive
rows, alerts as a read-committed consumer sees them, Flink job metrics."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from confluent_kafka import OFFSET_END, Consumer, KafkaError, TopicPartition

from fraudstream.config import Settings

log = logging.getLogger(__name__)


def _consumer(settings: Settings, **extra: Any) -> Consumer:
    config: dict[str, Any] = dict(settings.kafka_client_config())
    config.update(
        {
            "group.id": f"fraudstream-bench-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "logger": logging.getLogger("librdkafka.bench"),
        }
    )
    config.update(extra)
    return Consumer(config)


class Offsets:
    """End offsets of a topic (the sum over partitions)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = _consumer(settings)
        meta = self.consumer.list_topics(topic, timeout=10)
        self.partitions = sorted(meta.topics[topic].partitions)

    def end(self) -> int:
        total = 0
        for partition in self.partitions:
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=10, cached=False
            )
            total += high
        return total

    def close(self) -> None:
        self.consumer.close()


class Archive:
    """Counts and look-ups of one run's rows (one ``bank_id``) in the archive."""

    def __init__(self, settings: Settings, bank_id: str) -> None:
        self.bank_id = bank_id
        self.conn = psycopg.connect(settings.dsn, autocommit=True)

    def transactions(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM transactions WHERE bank_id = %s", (self.bank_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def alerts(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM alerts WHERE bank_id = %s", (self.bank_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def archived(self, ids: list[str]) -> list[tuple[str, float]]:
        """(transaction_id, archived_at epoch s) for those of ``ids`` already committed."""
        if not ids:
            return []
        rows = self.conn.execute(
            "SELECT transaction_id, extract(epoch FROM archived_at)::float8 "
            "FROM transactions WHERE transaction_id = ANY(%s)",
            (ids,),
        ).fetchall()
        return [(str(tx), float(at)) for tx, at in rows]

    def block_merchant(self, merchant: str) -> None:
        """Put ``merchant`` on the block list (for the blocklist trigger)."""
        self.conn.execute(
            "INSERT INTO blocklist (kind, value, reason) VALUES ('merchant', %s, 'bench') "
            "ON CONFLICT DO NOTHING",
            (merchant,),
        )

    def unblock_merchant(self, merchant: str) -> None:
        self.conn.execute(
            "DELETE FROM blocklist WHERE kind = 'merchant' AND value = %s AND reason = 'bench'",
            (merchant,),
        )

    def purge(self) -> tuple[int, int]:
        """Remove the run's rows so benchmarks do not pile up in the archive."""
        tx = self.conn.execute("DELETE FROM transactions WHERE bank_id = %s", (self.bank_id,))
        al = self.conn.execute("DELETE FROM alerts WHERE bank_id = %s", (self.bank_id,))
        return tx.rowcount, al.rowcount

    def close(self) -> None:
        self.conn.close()


class AlertListener:
    """Reads an alerts topic from its current end as a read-committed consumer.

    Calls ``on_alert(alert_dict, received_epoch_s)`` for every alert, in a thread.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        on_alert: Callable[[dict[str, Any], float], None],
    ) -> None:
        self.topic = topic
        self.on_alert = on_alert
        self.consumer = _consumer(settings, **{"fetch.wait.max.ms": 50})
        meta = self.consumer.list_topics(topic, timeout=10)
        partitions = sorted(meta.topics[topic].partitions)
        # Start at the current end, resolved now, so nothing published after
        # this point is missed (not auto.offset.reset=latest, which resolves late).
        starts = []
        for partition in partitions:
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10, cached=False
            )
            starts.append(TopicPartition(topic, partition, high if high >= 0 else OFFSET_END))
        self.consumer.assign(starts)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"alerts-{topic}", daemon=True)
        self.last_seen = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("alerts consumer: %s", error)
                continue
            now = time.time()
            try:
                alert = json.loads(msg.value() or b"")
            except (TypeError, ValueError):
                log.warning("undecodable alert at %s/%s", msg.partition(), msg.offset())
                continue
            self.received += 1
            self.last_seen = time.monotonic()
            self.on_alert(alert, now)

    def start(self) -> AlertListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.consumer.close()


class CommittedOffsets:
    """Offsets the job's Kafka source committed for its consumer group.

    The source commits on every completed checkpoint, so this is the job's
    progress through the topic at checkpoint granularity, read without
    joining the group.
    """

    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self.topic = topic
        self.consumer = _consumer(settings, **{"group.id": group})
        meta = self.consumer.list_topics(topic, timeout=10)
        self.partitions = [TopicPartition(topic, p) for p in sorted(meta.topics[topic].partitions)]

    def read(self) -> int | None:
        try:
            committed = self.consumer.committed(self.partitions, timeout=10)
        except Exception as exc:
            log.debug("committed offsets unavailable: %s", exc)
            return None
        return sum(max(tp.offset, 0) for tp in committed)

    def close(self) -> None:
        self.consumer.close()
