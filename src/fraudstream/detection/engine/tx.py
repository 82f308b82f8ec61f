"""The transaction as rules see it: validated, normalised, no card number.

A ``NamedTuple`` because it travels far (validation → keyed operator → rules
→ alert) and is created once per record: attribute access by name, tuple
speed. The Flink job's rows carry the same fields in the same order
(``FIELDS``), so a row becomes a ``Tx`` with ``Tx._make(row)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, NamedTuple

from fraudstream.records import Transaction, card_token, mask_card, quality_flags


class Tx(NamedTuple):
    transaction_id: str
    bank_id: str
    payment_system: str
    card_masked: str
    card_token: str
    user_id: int
    amount: float
    currency: str
    merchant: str
    country: str
    event_ms: int
    """event time, milliseconds since the epoch (UTC)"""
    merchant_category: str | None
    channel: str | None
    ingested_ms: int
    """when Kafka took the record (its timestamp), milliseconds since the epoch"""
    flags: str = ""
    """data-quality flags, comma-separated (``records.QUALITY_FLAGS``); empty when clean"""


FIELDS: Final = Tx._fields


def from_transaction(tx: Transaction, key: str, ingested_ms: int) -> Tx:
    """A validated contract record as rules see it (the PAN becomes mask + token)."""
    return Tx(
        transaction_id=tx.transaction_id,
        bank_id=tx.bank_id,
        payment_system=tx.payment_system,
        card_masked=mask_card(tx.card_number),
        card_token=card_token(tx.card_number, key),
        user_id=tx.user_id,
        amount=tx.amount,
        currency=tx.currency,
        merchant=tx.merchant,
        country=tx.country,
        event_ms=int(tx.event_time.timestamp() * 1000),
        merchant_category=tx.merchant_category,
        channel=tx.channel,
        ingested_ms=ingested_ms,
        flags=",".join(quality_flags(tx)),
    )


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds and ``Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
