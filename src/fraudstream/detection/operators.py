"""The job's Python operators, run by Flink inside the TaskManager (thread mode).

``Validate`` is keyed by transaction id (the JVM reads it from the payload):
it parses and checks each Kafka record once, and the first record of an id
wins (``engine.dedupe``). Valid first records become a ``Tx`` row (no card
number); the rest go to the rejected side output with their reason, except
an identical repeat, which is dropped. ``Profiles`` is keyed by user id: it
keeps the user's profile and its cards' in one Flink state value
(``engine.holder``) and runs the card and user rules of every transaction as
it arrives. ``MerchantRules`` is keyed by merchant and sees only the
transactions a merchant-scope rule admits (``Engine.merchant_admits``).
Every key travels as field 0 of what ``Validate`` emits, so the JVM keys
the streams.

The engine and the rule code are the same as ``fraudstream backtest`` runs;
only the state handling and the metrics live here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from pyflink.common import Row, Time, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor

from fraudstream.detection.engine import dedupe
from fraudstream.detection.engine.engine import Engine, alert_json
from fraudstream.detection.engine.holder import UserProfiles
from fraudstream.detection.engine.lookups import BlocklistCache
from fraudstream.detection.engine.merchant import MerchantProfile
from fraudstream.detection.engine.tx import FIELDS, Tx, from_transaction
from fraudstream.detection.rules.catalogue import parse_catalogue
from fraudstream.records import KNOWN_FIELDS, MAX_AMOUNT, Alert, InvalidRecord, parse_transaction
from fraudstream.redact import mask_text, stored_payload

log = logging.getLogger(__name__)

_S, _L, _D, _I = Types.STRING(), Types.LONG(), Types.DOUBLE(), Types.INT()

TX_TYPES: Final = {
    "transaction_id": _S,
    "bank_id": _S,
    "payment_system": _S,
    "card_masked": _S,
    "card_token": _S,
    "user_id": _L,
    "amount": _D,
    "currency": _S,
    "merchant": _S,
    "country": _S,
    "event_ms": _L,
    "merchant_category": _S,
    "channel": _S,
    "ingested_ms": _L,
    "flags": _S,
}
TX_ROW: Final = Types.ROW_NAMED(list(FIELDS), [TX_TYPES[name] for name in FIELDS])
KEYED_TX_ROW: Final = Types.ROW([_L, TX_ROW])
"""(user id, transaction): what Validate emits, keyed on field 0 in the JVM."""
BY_MERCHANT_ROW: Final = Types.ROW([_S, TX_ROW])
BY_MERCHANT: Final = OutputTag("by-merchant", BY_MERCHANT_ROW)
"""(merchant, transaction) on a side output: the transactions a merchant-scope rule admits."""

REJECTED_FIELDS: Final = (
    "reason",
    "detail",
    "raw_payload",
    "source_partition",
    "source_offset",
    "received_ms",
)
REJECTED_ROW: Final = Types.ROW_NAMED(list(REJECTED_FIELDS), [_S, _S, _S, _I, _L, _L])
REJECTED: Final = OutputTag("rejected", REJECTED_ROW)

ALERT_FIELDS: Final = (*Alert.__dataclass_fields__, "json")
_ALERT_TYPES: Final = {"score": _D, "user_id": _L, "amount": _D, "hits": _I}
ALERT_ROW: Final = Types.ROW_NAMED(
    list(ALERT_FIELDS), [_ALERT_TYPES.get(name, _S) for name in ALERT_FIELDS]
)


def alert_row(alert: Alert) -> Row:
    values = [getattr(alert, name) for name in Alert.__dataclass_fields__]
    values[ALERT_FIELDS.index("evidence")] = "[" + ",".join(f'"{e}"' for e in alert.evidence) + "]"
    return Row(*values, alert_json(alert))


SOURCE_ROW: Final = Types.ROW([Types.PRIMITIVE_ARRAY(Types.BYTE()), _I, _L, _L])
"""(payload, partition, offset, Kafka timestamp ms): a record as Validate receives it."""


class Validate(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by transaction id: Kafka record (payload, partition, offset, timestamp
    ms) -> (user id, Tx row) for the first record of an id, or a rejected row
    on the side output; an identical repeat yields nothing.

    The user id travels as field 0 so the JVM keys the stream by it: no
    extra Python step per record between validation and the rules. The
    state per transaction id is a 64-bit fingerprint, kept ``dedupe_s``. A
    transaction that a merchant-scope rule of ``catalogue`` admits also goes
    to the ``BY_MERCHANT`` side output, keyed the same way on the merchant.
    """

    def __init__(
        self,
        token_key: str,
        dedupe_s: int,
        max_amount: float = MAX_AMOUNT,
        catalogue: dict[str, Any] | None = None,
    ) -> None:
        self._key = token_key
        self._dedupe_s = dedupe_s
        self._max_amount = max_amount
        self._catalogue = catalogue
        self._admits: Callable[[Tx], bool] | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        if self._catalogue is not None:
            engine = Engine(parse_catalogue(self._catalogue))
            if engine.has_merchant_rules:
                self._admits = engine.merchant_admits
        descriptor = ValueStateDescriptor("first-fingerprint", Types.LONG())
        descriptor.enable_time_to_live(
            StateTtlConfig.new_builder(Time.seconds(self._dedupe_s))
            .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .build()
        )
        self._seen = runtime_context.get_state(descriptor)
        group = runtime_context.get_metrics_group()
        self._repeats = group.counter("duplicatesDropped")
        self._conflicts = group.counter("duplicatesRejected")

    def process_element(self, value: Any, ctx: Any) -> Any:
        payload, partition, offset, kafka_ms = value
        now = datetime.fromtimestamp(kafka_ms / 1000, UTC)
        try:
            tx = parse_transaction(payload, now=now, max_amount=self._max_amount)
        except InvalidRecord as exc:
            yield REJECTED, _rejected(exc.reason, exc.detail, payload, partition, offset, kafka_ms)
            return
        row = from_transaction(tx, self._key, kafka_ms)
        state = self._seen
        current = dedupe.fingerprint(row)
        verdict = dedupe.judge(state.value(), current)
        if verdict is dedupe.Verdict.FIRST:
            state.update(current)
            tx_row = Row(*row)
            yield Row(row.user_id, tx_row)
            admits = self._admits
            if admits is not None and admits(row):
                yield BY_MERCHANT, Row(row.merchant, tx_row)
        elif verdict is dedupe.Verdict.REPEAT:
            self._repeats.inc()
        else:
            self._conflicts.inc()
            detail = mask_text(dedupe.detail(row.transaction_id))
            yield REJECTED, _rejected(dedupe.REASON, detail, payload, partition, offset, kafka_ms)


def _rejected(
    reason: str, detail: str, payload: bytes, partition: int, offset: int, kafka_ms: int
) -> Row:
    # No card number in clear and no value outside the contract is stored;
    # masking runs on this (rejected) path only.
    return Row(reason, detail, stored_payload(payload, KNOWN_FIELDS), partition, offset, kafka_ms)


def _profile_state(name: str, ttl_s: int) -> ValueStateDescriptor:
    descriptor = ValueStateDescriptor(name, Types.PICKLED_BYTE_ARRAY())
    # A profile unseen for longer than the longest window holds nothing a
    # rule would read: Flink drops it (checked on read, cleaned on snapshots).
    descriptor.enable_time_to_live(
        StateTtlConfig.new_builder(Time.seconds(ttl_s))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .build()
    )
    return descriptor


class _Rules(KeyedProcessFunction):  # type: ignore[misc]
    def __init__(self, catalogue: dict[str, Any], dsn: str | None) -> None:
        self._catalogue = catalogue
        self._dsn = dsn
        self.engine: Engine

    def open(self, runtime_context: RuntimeContext) -> None:
        self.engine = Engine(parse_catalogue(self._catalogue))
        group = runtime_context.get_metrics_group()
        self._out_of_order = group.counter("outOfOrder")
        self._alerts = group.counter("alertsRaised")
        self._updates = group.counter("alertUpdates")
        self._unjudged = group.counter("unjudged")
        self._seen = (0, 0, 0, 0)

    def _metrics(self) -> None:
        counters = self.engine.counters
        now = (counters.out_of_order, counters.alerts, counters.updates, counters.unjudged)
        before = self._seen
        if now != before:
            self._out_of_order.inc(now[0] - before[0])
            self._alerts.inc(now[1] - before[1])
            self._updates.inc(now[2] - before[2])
            self._unjudged.inc(now[3] - before[3])
            self._seen = now


class Profiles(_Rules):
    """Keyed by user id: the profiles of the user and of its cards (one state
    value, ``engine.holder``), every card-scope rule and the block list, then
    every user-scope rule."""

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self._state = runtime_context.get_state(_profile_state("profiles", self.engine.ttl_s))
        rules = self.engine.blocklist_rules
        self._blocklist = (
            BlocklistCache(self._dsn, rules[0].params.cache_seconds, rules[0].params.cache_max_rows)
            if rules and self._dsn
            else None
        )

    def process_element(self, value: Any, ctx: Any) -> Any:
        tx = Tx(*value)
        state = self._state
        holder = UserProfiles.from_state(state.value())
        entries = self._blocklist.entries() if self._blocklist is not None else None
        now_ms = int(time.time() * 1000)
        engine = self.engine
        alerts = holder.feed_card(engine, tx, now_ms, entries)
        alerts += holder.feed_user(engine, tx, now_ms)
        state.update(holder.to_state())
        self._metrics()
        for alert in alerts:
            yield alert_row(alert)


class MerchantRules(_Rules):
    """Keyed by merchant: the merchant profile and every merchant-scope rule."""

    def open(self, runtime_context: RuntimeContext) -> None:
        super().open(runtime_context)
        self._state = runtime_context.get_state(
            _profile_state("merchant-profile", self.engine.ttl_s)
        )

    def process_element(self, value: Any, ctx: Any) -> Any:
        tx = Tx(*value)
        profile = MerchantProfile.from_state(self._state.value())
        alerts = self.engine.merchant(profile, tx, int(time.time() * 1000))
        self._state.update(profile.to_state())
        self._metrics()
        for alert in alerts:
            yield alert_row(alert)
