"""The contracts: what a bank publishes (Transaction) and what we publish (Alert).

``Transaction`` carries exactly the ten fields a bank sends, plus optional
extras the simulator adds. ``parse_transaction`` validates a raw Kafka value
and raises ``InvalidRecord`` with a reason a human can act on; the same rules
are enforced by the Flink job, which routes failures to the dead-letter topic.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

CONTRACT_FIELDS: Final = (
    "transaction_id",
    "bank_id",
    "payment_system",
    "card_number",
    "user_id",
    "amount",
    "currency",
    "merchant",
    "country",
    "timestamp",
)
OPTIONAL_FIELDS: Final = ("merchant_category", "channel")

PAYMENT_SYSTEMS: Final = ("VISA", "MASTERCARD", "AMEX")
"""Canonical spellings, as stored; a record may use any letter case."""
PUBLISHED_SPELLING: Final = {"VISA": "VISA", "MASTERCARD": "MasterCard", "AMEX": "AMEX"}
"""How the published record format writes each payment system."""

# Data-quality flags: the record is archived and evaluated, and the
# card_number_check rule alerts on it (generated numbers are how card testing
# starts), but it is not rejected.
FLAG_LUHN: Final = "luhn"
FLAG_NETWORK: Final = "network_mismatch"
FLAG_UNKNOWN_SYSTEM: Final = "unknown_payment_system"
QUALITY_FLAGS: Final = (FLAG_LUHN, FLAG_NETWORK, FLAG_UNKNOWN_SYSTEM)
MAX_RECORD_BYTES: Final = 8192
MAX_AMOUNT: Final = 1_000_000.0
MAX_FUTURE: Final = timedelta(minutes=5)

_UUID_RE: Final = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_CODE2_RE: Final = re.compile(r"^[A-Z]{2}$")
_CODE3_RE: Final = re.compile(r"^[A-Z]{3}$")
_DIGITS_RE: Final = re.compile(r"^[0-9]{12,19}$")
_BANK_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_SYSTEM_RE: Final = re.compile(r"^[A-Z][A-Z _\-]{0,31}$")
_CARD_SEPARATORS: Final = re.compile(r"[ \-]")


class InvalidRecord(ValueError):
    """A record that breaks the contract; ``reason`` is a short machine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


_DOUBLED: Final = b"0246813579"  # the Luhn value of 2*d, as ASCII digits


def luhn_valid(number: str) -> bool:
    """True when ``number`` (digits only) passes the Luhn checksum."""
    digits = number.encode()[::-1]
    # Every second digit from the right is doubled (one table lookup each);
    # bytes arithmetic keeps this a few microseconds on the job's hot path.
    total = sum(digits[0::2]) - 48 * len(digits[0::2])
    total += sum(_DOUBLED[d - 48] for d in digits[1::2]) - 48 * len(digits[1::2])
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(partial)):
        digit = ord(char) - 48
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def network_of(number: str) -> str | None:
    """The payment network a card number belongs to by its prefix and length."""
    if len(number) == 16 and number[0] == "4":
        return "VISA"
    if len(number) == 16:
        two, four = int(number[:2]), int(number[:4])
        if 51 <= two <= 55 or 2221 <= four <= 2720:
            return "MASTERCARD"
    if len(number) == 15 and number[:2] in ("34", "37"):
        return "AMEX"
    return None


def mask_card(number: str) -> str:
    """First six and last four digits, the rest as ``*`` (PCI DSS display form)."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def card_token(number: str, key: str) -> str:
    """Keyed hash of a card number: stable per card, useless without the key.

    SHA-256 over ``key || ':' || number``, hex. The Flink job computes the same
    value with ``SHA2(CONCAT(key, ':', card_number), 256)`` so state is keyed
    identically on both sides.
    """
    return hashlib.sha256(f"{key}:{number}".encode()).hexdigest()


def alert_id(rule_id: str, transaction_id: str) -> str:
    """Deterministic alert id: MD5 hex of ``rule_id || ':' || transaction_id``.

    The same finding replayed yields the same id, so consumers and the archive
    de-duplicate on it.
    """
    return hashlib.md5(f"{rule_id}:{transaction_id}".encode(), usedforsecurity=False).hexdigest()


def parse_timestamp(text: str) -> datetime:
    """ISO-8601, returned in UTC. A time without an offset is read as UTC (the
    published producer writes ``%Y-%m-%dT%H:%M:%S`` in UTC)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRecord("bad_timestamp", f"not ISO-8601: {text!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Transaction:
    """One card transaction as a bank publishes it."""

    transaction_id: str
    bank_id: str
    payment_system: str
    card_number: str
    user_id: int
    amount: float
    currency: str
    merchant: str
    country: str
    timestamp: str
    merchant_category: str | None = None
    channel: str | None = None

    @property
    def event_time(self) -> datetime:
        return parse_timestamp(self.timestamp)

    @property
    def card_masked(self) -> str:
        return mask_card(self.card_number)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in OPTIONAL_FIELDS:
            if data[name] is None:
                del data[name]
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def _require(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data or data[name] is None:
        raise InvalidRecord("missing_field", f"{name} is missing")
    value = data[name]
    # bool is an int in Python, never a valid amount or user id here.
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InvalidRecord("wrong_type", f"{name} must be {expected}, got {type(value).__name__}")
    return value


def validate_transaction(data: dict[str, Any], *, now: datetime | None = None) -> Transaction:
    """Check a decoded record against the contract; raise ``InvalidRecord``."""
    tx_id = _require(data, "transaction_id", str)
    if not _UUID_RE.match(tx_id):
        raise InvalidRecord("bad_transaction_id", f"not a UUID: {tx_id!r}")
    bank_id = _require(data, "bank_id", str)
    if not _BANK_RE.match(bank_id):
        raise InvalidRecord("bad_bank_id", f"bank_id {bank_id!r}")
    # Any letter case, stored in one spelling; an unknown system is flagged.
    system = _require(data, "payment_system", str).strip().upper()
    if not _SYSTEM_RE.match(system):
        raise InvalidRecord("bad_payment_system", "payment_system must be 1-32 letters")
    card = _CARD_SEPARATORS.sub("", _require(data, "card_number", str))
    if not _DIGITS_RE.match(card):
        raise InvalidRecord("bad_card_number", "not 12-19 digits")
    user_id = _require(data, "user_id", int)
    if user_id <= 0:
        raise InvalidRecord("bad_user_id", f"user_id must be positive, got {user_id}")
    amount = float(_require(data, "amount", (int, float)))
    if not math.isfinite(amount) or amount <= 0:
        raise InvalidRecord("bad_amount", f"amount must be positive, got {amount}")
    if amount > MAX_AMOUNT:
        raise InvalidRecord("bad_amount", f"amount {amount} above {MAX_AMOUNT}")
    currency = _require(data, "currency", str)
    if not _CODE3_RE.match(currency):
        raise InvalidRecord("bad_currency", f"not an ISO 4217 code: {currency!r}")
    merchant = _require(data, "merchant", str)
    if not merchant.strip() or len(merchant) > 200:
        raise InvalidRecord("bad_merchant", "merchant must be 1-200 characters")
    country = _require(data, "country", str)
    if not _CODE2_RE.match(country):
        raise InvalidRecord("bad_country", f"not an ISO 3166 alpha-2 code: {country!r}")
    stamp = _require(data, "timestamp", str)
    when = parse_timestamp(stamp)
    if when > (now or datetime.now(UTC)) + MAX_FUTURE:
        raise InvalidRecord("future_timestamp", f"{stamp} is in the future")
    extras = {name: data.get(name) for name in OPTIONAL_FIELDS}
    for name, value in extras.items():
        if value is not None and not isinstance(value, str):
            raise InvalidRecord("wrong_type", f"{name} must be str")
    return Transaction(
        transaction_id=tx_id,
        bank_id=bank_id,
        payment_system=system,
        card_number=card,
        user_id=user_id,
        amount=amount,
        currency=currency,
        merchant=merchant,
        country=country,
        timestamp=stamp,
        merchant_category=extras["merchant_category"],
        channel=extras["channel"],
    )


def quality_flags(tx: Transaction) -> tuple[str, ...]:
    """What is suspicious about a valid record: an unknown payment system, a
    card number that fails the Luhn check digit, or one whose prefix belongs
    to another network."""
    flags = []
    if tx.payment_system not in PAYMENT_SYSTEMS:
        flags.append(FLAG_UNKNOWN_SYSTEM)
    if not luhn_valid(tx.card_number):
        flags.append(FLAG_LUHN)
    if tx.payment_system in PAYMENT_SYSTEMS and network_of(tx.card_number) != tx.payment_system:
        flags.append(FLAG_NETWORK)
    return tuple(flags)


def parse_transaction(raw: bytes, *, now: datetime | None = None) -> Transaction:
    """Decode and validate one Kafka value."""
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord("oversized", f"{len(raw)} bytes > {MAX_RECORD_BYTES}")
    try:
        # orjson: about 4x json's speed on the job's hot path, and strict
        # (no NaN/Infinity literals, valid UTF-8 only).
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("not_json", str(exc)) from exc
    if not isinstance(data, dict):
        raise InvalidRecord("not_object", f"expected a JSON object, got {type(data).__name__}")
    return validate_transaction(data, now=now)


@dataclass(frozen=True)
class FraudLabel:
    """Ground truth for one transaction of an injected attack (a ``fraud_labels``
    row); what detection quality is scored against."""

    transaction_id: str
    scenario_id: str
    scenario: str
    step: int = 0
    is_trigger: bool = False


SEVERITIES: Final = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Alert:
    """One finding of one rule on one transaction, as published on ``fraud-alerts``."""

    alert_id: str
    rule_id: str
    rule_type: str
    severity: str
    score: float
    reason: str
    transaction_id: str
    card_masked: str
    card_token: str
    bank_id: str
    user_id: int
    amount: float
    currency: str
    merchant: str
    country: str
    payment_system: str
    event_time: str
    detected_at: str
    evidence: tuple[str, ...] = field(default_factory=tuple)
    hits: int = 1
    """Transactions of the episode the rule fired on (1 for a single finding)."""
    last_transaction_id: str | None = None
    """The episode's latest transaction (the alert's own for a single finding)."""
    case_id: str | None = None
    """The case the alert belongs to: the id of the first alert of the same card
    (user, merchant) within the case cool-down (docs/RULES.md#cases)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        values: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        values["evidence"] = tuple(data.get("evidence") or ())
        values["hits"] = int(data.get("hits") or 1)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evidence"] = list(self.evidence)
        return data
