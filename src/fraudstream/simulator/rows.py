"""The simulator's internal record form and its two outputs.

The hot path keeps each transaction as a plain tuple (``Row``) and writes its
JSON with one string format: at tens of thousands of records per second a
dataclass and ``json.dumps`` per record would cost more than Kafka does.
``to_transaction`` gives the contract's ``Transaction`` for everything else.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fraudstream.records import Transaction

# transaction_id, bank_id, payment_system, card_number, user_id, amount,
# currency, merchant (JSON-escaped, with quotes), country, event time (epoch
# seconds), merchant_category, channel, and the record's JSON when the
# generator already wrote it ("" otherwise; see ``value``).
Row = tuple[str, str, str, str, int, float, str, str, str, float, str, str, str]

TEMPLATE: Final = (
    '{"transaction_id":"%s","bank_id":"%s","payment_system":"%s","card_number":"%s",'
    '"user_id":%d,"amount":%.2f,"currency":"%s","merchant":%s,"country":"%s",'
    '"timestamp":"%s","merchant_category":"%s","channel":"%s"}'
)


class Timestamps:
    """ISO-8601 with offset from epoch seconds; caches the current second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, t: float) -> str:
        second, milli = divmod(int(t * 1000.0), 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{milli:03d}+00:00"


# The generator writes the card's constant fields once per card (CARD_PART)
# and fills the rest per record: fewer fields to format on the hot path.
CARD_PART: Final = '"bank_id":"%s","payment_system":"%s","card_number":"%s","user_id":%d,'
FAST_TEMPLATE: Final = (
    '{"transaction_id":"%s",%s"amount":%.2f,"currency":"%s","merchant":%s,"country":"%s",'
    '"timestamp":"%s+00:00","merchant_category":"%s","channel":"%s"}'
)


def value(row: Row, stamp: Timestamps) -> str | bytes:
    """The record's JSON: the generator's when it wrote one, else ``encode``."""
    return row[12] or encode(row, stamp)


def encode(row: Row, stamp: Timestamps) -> bytes:
    return (
        TEMPLATE
        % (
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            stamp(row[9]),
            row[10],
            row[11],
        )
    ).encode()


def iso(t: float) -> str:
    return Timestamps()(t)


def to_transaction(row: Row) -> Transaction:
    import json

    return Transaction(
        transaction_id=row[0],
        bank_id=row[1],
        payment_system=row[2],
        card_number=row[3],
        user_id=row[4],
        amount=round(row[5], 2),
        currency=row[6],
        merchant=json.loads(row[7]),
        country=row[8],
        timestamp=iso(row[9]),
        merchant_category=row[10],
        channel=row[11],
    )


def epoch(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one transaction of an injected fraud scenario.

    ``to_dict`` is the message on the labels topic and a row of the
    ``fraud_labels`` table; ``transaction_ids`` (the whole scenario, in
    order) is kept in memory for evaluation code.
    """

    transaction_id: str
    scenario_id: str
    scenario: str
    step: int
    is_trigger: bool
    bank_id: str = ""
    transaction_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["transaction_ids"]
        return data
