"""Sending simulated transactions: to Kafka or to a JSONL file, at a rate.

``KafkaSink`` is an idempotent ``acks=all`` producer keyed by user id and
tuned for throughput (large batches, lz4); it counts delivered and failed
records and keeps the broker's error messages. Labels go out only once their
transaction is acknowledged, to the labels topic and/or ``fraud_labels``.
``run`` drives a generator through a sink under a ``RateController`` until a
count, a duration or a stop request; it always flushes before returning.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from fraudstream.config import Settings
from fraudstream.records import Transaction
from fraudstream.simulator.generator import Generator
from fraudstream.simulator.ratecontrol import RateController
from fraudstream.simulator.rows import Label, Row, Timestamps, encode, value

log = logging.getLogger(__name__)

LABEL_MODES = ("kafka", "postgres", "both", "none", "auto")


def producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka settings: no duplicates, no loss, big compressed batches."""
    return {
        **settings.kafka_client_config("producer"),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 25,
        "batch.size": 1_000_000,
        "batch.num.messages": 20_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        "message.timeout.ms": 60_000,
        "logger": logging.getLogger("librdkafka.producer"),
    }


@dataclass
class Counts:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    labels: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    labels_failed: int = 0
    elapsed: float = 0.0  # seconds spent sending (set when a run ends)

    def error_summary(self) -> str:
        return "; ".join(f"{text} (x{n})" for text, n in self.errors.most_common(5))


class Sink(Protocol):
    counts: Counts

    def send(self, rows: list[tuple[Row, Label | None]]) -> None: ...

    def poll(self) -> None: ...

    def flush(self, timeout: float) -> int: ...

    def close(self) -> None: ...


class LabelStore:
    """Batched, idempotent inserts into ``fraud_labels``."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
        self._pending: list[Label] = []
        self._lock = threading.Lock()

    @staticmethod
    def reachable(dsn: str) -> bool:
        import psycopg

        try:
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1 FROM fraud_labels LIMIT 1")
        except psycopg.Error:
            return False
        return True

    def add(self, label: Label) -> None:
        with self._lock:
            self._pending.append(label)

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            with self._conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO fraud_labels"
                    " (transaction_id, scenario_id, scenario, step, is_trigger, bank_id)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (transaction_id) DO NOTHING",
                    [
                        (
                            lb.transaction_id,
                            lb.scenario_id,
                            lb.scenario,
                            lb.step,
                            lb.is_trigger,
                            lb.bank_id,
                        )
                        for lb in batch
                    ],
                )
        return len(batch)

    def close(self) -> None:
        self.flush()
        self._conn.close()


class KafkaSink:
    """Transactions to ``topic`` keyed by user id (never a card number); labels alongside.

    Only failed deliveries call back into Python (``delivery.report.only.error``):
    a success callback per record would cost as much as producing it. Once
    ``flush`` returns, every record not reported failed was acknowledged.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        labels_topic: str | None = None,
        label_store: LabelStore | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.labels_topic = labels_topic
        self.label_store = label_store
        self.counts = Counts()
        conf = producer_config(settings)
        conf["error_cb"] = self._on_error
        conf["delivery.report.only.error"] = True
        conf.update(config or {})
        self._producer = Producer(conf)
        self._stamp = Timestamps()

    def _on_error(self, err: Any) -> None:
        # Cluster-level trouble (all brokers down, auth): say it, keep going;
        # records that cannot be delivered fail through _on_failed.
        log.warning("Kafka: %s", err)

    def _on_failed(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.counts.failed += 1
            self.counts.errors[str(err)] += 1

    def _on_label_failed(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.counts.labels_failed += 1
            self.counts.errors[f"label: {err}"] += 1

    def _produce(self, topic: str, value: bytes | str, key: str | bytes, callback: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=callback)
                return
            except BufferError:
                # Local queue full: let deliveries drain, then retry.
                self._producer.poll(0.05)

    def _label(self, label: Label) -> None:
        self.counts.labels += 1
        if self.labels_topic is not None:
            value = json.dumps(label.to_dict(), separators=(",", ":"))
            self._produce(self.labels_topic, value, label.scenario_id, self._on_label_failed)
        if self.label_store is not None:
            self.label_store.add(label)

    def send(self, rows: list[tuple[Row, Label | None]]) -> None:
        produce = self._producer.produce
        topic = self.topic
        stamp = self._stamp
        on_failed = self._on_failed
        for row, label in rows:
            # Keyed by user: a user's cards share a partition (each card's
            # order holds) and the key, stored in clear, carries no card number.
            key = str(row[4])
            value = row[12] or encode(row, stamp)
            try:
                produce(topic, value, key, on_delivery=on_failed)
            except BufferError:
                self._produce(topic, value, key, on_failed)
            if label is not None:
                self._label(label)
        self.counts.sent += len(rows)
        self._producer.poll(0)
        self._update()

    def send_transaction(self, tx: Transaction, label: Label | None) -> None:
        self._produce(self.topic, tx.to_json(), str(tx.user_id), self._on_failed)
        self.counts.sent += 1
        if label is not None:
            self._label(label)

    def send_raw(self, key: bytes, value: bytes) -> None:
        self._produce(self.topic, value, key, self._on_failed)
        self.counts.sent += 1

    def _update(self, in_flight: int | None = None) -> None:
        waiting = len(self._producer) if in_flight is None else in_flight
        self.counts.delivered = max(0, self.counts.sent - self.counts.failed - waiting)

    def poll(self) -> None:
        self._producer.poll(0)
        self._update()
        if self.label_store is not None:
            self.label_store.flush()

    def flush(self, timeout: float = 60.0) -> int:
        remaining: int = self._producer.flush(timeout)
        self._update(remaining)
        if self.label_store is not None:
            self.label_store.flush()
        return remaining

    def close(self) -> None:
        if self.label_store is not None:
            self.label_store.close()


class FileSink:
    """JSONL transactions (one per line) and, optionally, a JSONL of labels."""

    def __init__(self, path: Path, labels_path: Path | None) -> None:
        self.counts = Counts()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out: IO[bytes] = path.open("wb")
        self._labels: IO[str] | None = labels_path.open("w") if labels_path else None
        self._stamp = Timestamps()

    def send(self, rows: list[tuple[Row, Label | None]]) -> None:
        stamp = self._stamp
        text = "\n".join(v if isinstance(v, str) else v.decode() for v in _values(rows, stamp))
        self._out.write(text.encode() + b"\n")
        for _, label in rows:
            if label is not None and self._labels is not None:
                self._labels.write(json.dumps(label.to_dict(), separators=(",", ":")) + "\n")
                self.counts.labels += 1
        self.counts.sent += len(rows)
        self.counts.delivered += len(rows)

    def poll(self) -> None:
        pass

    def flush(self, timeout: float = 0.0) -> int:
        self._out.flush()
        if self._labels is not None:
            self._labels.flush()
        return 0

    def close(self) -> None:
        self._out.close()
        if self._labels is not None:
            self._labels.close()


def _values(rows: list[tuple[Row, Label | None]], stamp: Timestamps) -> list[str | bytes]:
    return [value(row, stamp) for row, _ in rows]


def labels_path_for(output: Path) -> Path:
    """``out.jsonl`` -> ``out.labels.jsonl``."""
    return output.with_name(output.stem + ".labels" + (output.suffix or ".jsonl"))


@dataclass
class Progress:
    """A one-line status on a terminal, an occasional log line otherwise."""

    what: str
    stream: IO[str] = sys.stderr
    every: float = 1.0
    _last: float = 0.0

    def __post_init__(self) -> None:
        self.tty = self.stream.isatty()
        if not self.tty:
            self.every = 60.0
        self._last = time.monotonic()

    def show(self, rate: float, counts: Counts, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.every:
            return
        self._last = now
        text = (
            f"{self.what}: {rate:,.1f} tx/s  sent {counts.sent:,}  delivered {counts.delivered:,}"
            f"  failed {counts.failed:,}  labels {counts.labels:,}"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
            self.stream.flush()
        else:
            log.info("%s", text)


def run(
    gen: Generator,
    sink: Sink,
    *,
    rate: float | None,
    count: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    flush_timeout: float = 60.0,
    on_tick: Callable[[Counts], None] | None = None,
) -> Counts:
    """Send until ``count`` records, ``duration`` seconds or ``stop`` is set."""
    stop = stop or threading.Event()
    pacer = RateController(
        rate, clock=clock, max_batch=max(1, min(5000, int(rate or 5000) // 20 or 1))
    )
    pacer.start()
    try:
        while not stop.is_set():
            if duration is not None and pacer.elapsed() >= duration:
                break
            if count is not None and pacer.sent >= count:
                break
            n = pacer.allowance()
            if count is not None:
                n = min(n, count - pacer.sent)
            if n == 0:
                sink.poll()
                stop.wait(min(0.1, pacer.delay()))
                continue
            sink.send(gen.batch(n))
            pacer.record(n)
            if progress is not None:
                progress.show(pacer.achieved(), sink.counts)
            if on_tick is not None:
                on_tick(sink.counts)
    finally:
        remaining = sink.flush(flush_timeout)
        if remaining:
            sink.counts.failed += remaining
            sink.counts.errors[f"{remaining} records still unacknowledged at exit"] += 1
        sink.counts.elapsed = pacer.elapsed()
        if progress is not None:
            progress.show(pacer.achieved(), sink.counts, final=True)
        if on_tick is not None:
            on_tick(sink.counts)
        sink.close()
    return sink.counts


def deliver(
    settings: Settings,
    items: Iterable[tuple[Transaction, Label | None]],
    *,
    topic: str | None = None,
    labels_topic: str | None = None,
    labels_db: bool = False,
    timeout: float = 60.0,
) -> Counts:
    """Send transactions (and their labels) and wait until each is acknowledged.

    ``topic`` defaults to the transactions topic; labels go to ``labels_topic``
    and, with ``labels_db``, into ``fraud_labels`` only when given. The caller
    checks ``counts.failed == 0``; ``counts.errors`` says what went wrong.
    """
    sink = KafkaSink(
        settings,
        topic or settings.topic_transactions,
        labels_topic=labels_topic,
        label_store=LabelStore(settings.dsn) if labels_db else None,
    )
    try:
        for tx, label in items:
            sink.send_transaction(tx, label)
        remaining = sink.flush(timeout)
        if remaining:
            sink.counts.failed += remaining
            sink.counts.errors[f"{remaining} records still unacknowledged after {timeout}s"] += 1
    finally:
        sink.close()
    return sink.counts
