"""A paced producer of valid synthetic transactions for throughput and latency runs.

Built for rate rather than realism: every card keeps one home country, amounts
stay well below the high-amount limit except for the transactions the caller
asks to alert, and all records of a run carry one run-specific ``bank_id`` so
the archive rows of the run can be counted (and removed) by an indexed query.
Detection quality is measured on the simulator's labelled stream instead.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from fraudstream.bench.triggers import Sequence, Step
from fraudstream.config import Settings
from fraudstream.records import luhn_check_digit

log = logging.getLogger(__name__)

COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE", "CA")
CURRENCIES = {"US": "USD", "GB": "GBP", "CA": "CAD", "PL": "PLN", "SE": "SEK", "DE": "EUR"}
MERCHANTS = ("Acme Grocery", "Northwind Fuel", "Contoso Books", "Fabrikam Cafe", "Globex Online")


def card_number(index: int) -> str:
    """A valid VISA number derived from ``index`` (stable: same index, same card)."""
    body = f"4{index % 10**14:014d}"
    return body + luhn_check_digit(body)


@dataclass(frozen=True)
class LoadShape:
    bank_id: str
    cards: int = 200_000
    alert_every: int = 0  # every n-th transaction is above the alert threshold; 0: none
    alert_amount: float = 9_999.0
    seed: int = 7
    event_interval_ms: float = 0.0
    """> 0: event times advance by this much per transaction from ``event_start``
    (a backlog spread like real traffic); 0: the wall clock at creation."""
    event_start: datetime | None = None


class RecordSource(Protocol):
    def make(self) -> tuple[str, bytes, bytes, bool]:
        """(transaction_id, key, value, flag); raises StopIteration when exhausted."""
        ...


class TransactionFactory:
    """Serialised transactions, cheap enough to make tens of thousands per second.

    With ``triggers`` (see ``bench.triggers``), every ``alert_every``-th slot
    starts the next trigger sequence on a card of its own instead; the
    sequence's last transaction is reported as the one to alert, and
    ``trigger_rules`` maps it to the rule that must fire on it.
    """

    def __init__(self, shape: LoadShape, triggers: Iterator[Sequence] | None = None) -> None:
        self.shape = shape
        self._random = random.Random(shape.seed)
        self._count = 0
        self._triggers = triggers
        self._pending: deque[tuple[int, Step]] = deque()
        self._next_card = shape.cards
        self.trigger_rules: dict[str, str] = {}
        self._rule = ""

    def make(self) -> tuple[str, bytes, bytes, bool]:
        """(transaction_id, key, value, designed_to_alert)."""
        self._count += 1
        rnd = self._random
        alert = self.shape.alert_every > 0 and self._count % self.shape.alert_every == 0
        if alert and self._triggers is not None and not self._pending:
            sequence = next(self._triggers)
            card_index = self._next_card
            self._next_card += 1
            self._pending.extend((card_index, step) for step in sequence.steps)
            self._rule = sequence.rule_id
        if self._pending:
            index, step = self._pending.popleft()
            tx_id, key, value = self._record(index, step.amount, step.country, step.merchant)
            if step.trigger:
                self.trigger_rules[tx_id] = self._rule
            return tx_id, key, value, step.trigger
        index = rnd.randrange(self.shape.cards)
        amount = self.shape.alert_amount if alert else round(5 + rnd.random() * 120, 2)
        country = COUNTRIES[index % len(COUNTRIES)]
        tx_id, key, value = self._record(index, amount, country, MERCHANTS[index % len(MERCHANTS)])
        return tx_id, key, value, alert

    def _record(
        self, index: int, amount: float, country: str, merchant: str
    ) -> tuple[str, bytes, bytes]:
        card = card_number(index)
        tx_id = str(uuid.uuid4())
        if self.shape.event_interval_ms > 0 and self.shape.event_start is not None:
            at = self.shape.event_start + timedelta(
                milliseconds=self._count * self.shape.event_interval_ms
            )
        else:
            at = datetime.now(UTC)
        stamp = at.isoformat(timespec="milliseconds")
        value = (
            f'{{"transaction_id":"{tx_id}","bank_id":"{self.shape.bank_id}",'
            f'"payment_system":"VISA","card_number":"{card}","user_id":{index + 1},'
            f'"amount":{amount},"currency":"{CURRENCIES.get(country, "EUR")}",'
            f'"merchant":"{merchant}","country":"{country}",'
            f'"timestamp":"{stamp}"}}'
        ).encode()
        # Keyed by user, never by card number: the key is stored in clear.
        return tx_id, str(index + 1).encode(), value


@dataclass
class ProducerStats:
    offered: int = 0
    acked: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def producer_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = dict(settings.kafka_client_config())
    config.update(
        {
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 262144,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            "logger": logging.getLogger("librdkafka.bench"),
        }
    )
    return config


AckHook = Callable[[str, float, float], None]  # (transaction_id, append_ts, ack_ts) in epoch s


class PacedProducer:
    """Offers ``rate`` transactions per second to ``topic`` for a bounded time.

    ``on_ack`` is called for the transactions ``track`` selects, with the
    record's Kafka timestamp (CreateTime, or the broker's append time when the
    topic uses LogAppendTime) and the time the acknowledgement arrived.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        factory: RecordSource,
        *,
        on_ack: AckHook | None = None,
        track: Callable[[bool], bool] | None = None,
    ) -> None:
        self.topic = topic
        self.factory = factory
        self.producer = Producer(producer_config(settings))
        self.stats = ProducerStats()
        self.on_ack = on_ack
        self.track = track or (lambda alert: False)
        self.exhausted = False
        self._untracked = self._delivered(None)

    def _delivered(self, tx_id: str | None) -> Callable[[KafkaError | None, Message], None]:
        def callback(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                with self.stats.lock:
                    self.stats.failed += 1
                    key = err.name()
                    self.stats.errors[key] = self.stats.errors.get(key, 0) + 1
                return
            self.stats.acked += 1
            if tx_id is not None and self.on_ack is not None:
                _, stamp_ms = msg.timestamp()
                self.on_ack(tx_id, stamp_ms / 1000.0, time.time())

        return callback

    def _send(self) -> bool:
        try:
            tx_id, key, value, alert = self.factory.make()
        except StopIteration:
            self.exhausted = True
            return False
        callback = self._delivered(tx_id) if self.track(alert) else self._untracked
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key, on_delivery=callback)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.stats.offered += 1
        return True

    def run(
        self,
        rate: float,
        seconds: float,
        *,
        stop: threading.Event | None = None,
        tick: float = 0.005,
    ) -> float:
        """Produce at ``rate``/s for ``seconds``; return the elapsed wall time."""
        started = time.monotonic()
        sent = 0
        deadline = started + seconds
        while True:
            now = time.monotonic()
            if now >= deadline or self.exhausted or (stop is not None and stop.is_set()):
                break
            due = int((now - started) * rate)
            # Cap a burst so a stall (GC, shared CPU) cannot turn into a flood.
            burst = min(due - sent, max(1, int(rate * 0.1)))
            for _ in range(burst):
                if not self._send():
                    break
                sent += 1
            self.producer.poll(0)
            if sent >= due:
                time.sleep(tick)
        return time.monotonic() - started

    def flush(self, timeout: float = 30.0) -> int:
        return int(self.producer.flush(timeout))
