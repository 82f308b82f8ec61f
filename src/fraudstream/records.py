"""The contracts: what a bank publishes (Transaction) and what we publish (Alert).

``Transaction`` carries exactly the ten fields a bank sends, plus optional
extras the simulator adds. ``parse_transaction`` validates a raw Kafka value
and raises ``InvalidRecord`` with a reason a human can act on; the same rules
are enforced by the Flink job, which routes failures to the dead-letter topic.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import orjson

from fraudstream import codes
from fraudstream.redact import mask_card as mask_card  # re-exported: the display form
from fraudstream.redact import mask_free_text, mask_text

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
KNOWN_FIELDS: Final = frozenset((*CONTRACT_FIELDS, *OPTIONAL_FIELDS))
"""Fields whose values a stored rejected payload keeps (card number masked)."""

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
FLAG_UNKNOWN_CURRENCY: Final = "unknown_currency"
FLAG_UNKNOWN_COUNTRY: Final = "unknown_country"
QUALITY_FLAGS: Final = (
    FLAG_LUHN,
    FLAG_NETWORK,
    FLAG_UNKNOWN_SYSTEM,
    FLAG_UNKNOWN_CURRENCY,
    FLAG_UNKNOWN_COUNTRY,
)
MAX_RECORD_BYTES: Final = 8192
MAX_AMOUNT: Final = 1_000_000.0
"""Default of the ``max_amount`` setting: a larger amount is rejected."""
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


MAX_DETAIL: Final = 300
REJECT_REASONS: Final = (
    "oversized",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "bad_transaction_id",
    "bad_bank_id",
    "bad_payment_system",
    "bad_card_number",
    "bad_user_id",
    "bad_amount",
    "amount_above_maximum",
    "bad_currency",
    "bad_merchant",
    "bad_country",
    "bad_timestamp",
    "future_timestamp",
)
"""Every reason ``parse_transaction`` rejects a record with (docs/CONTRACT.md)."""


class InvalidRecord(ValueError):
    """A record that breaks the contract; ``reason`` is a short machine code.

    ``detail`` may quote the offending value; any card number in it is masked
    here, so a detail can be logged, printed and stored as it is."""

    def __init__(self, reason: str, detail: str) -> None:
        detail = mask_text(detail)[:MAX_DETAIL]
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


def card_token(number: str, key: str) -> str:
    """Keyed token of a card number: stable per card and key, useless without the key.

    HMAC-SHA256 of the digits under ``key``, hex. Card state, the archive's
    ``card_token`` column and block-list entries of kind ``card_token`` all
    use it; a new key gives every card a new token (docs/CONTRACT.md, key
    rotation).
    """
    mac = _keyed(key).copy()  # the key's pads are hashed once, not per card
    mac.update(number.encode())
    return mac.hexdigest()


@lru_cache(maxsize=8)
def _keyed(key: str) -> hmac.HMAC:
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


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


def validate_transaction(
    data: dict[str, Any], *, now: datetime | None = None, max_amount: float = MAX_AMOUNT
) -> Transaction:
    """Check a decoded record against the contract; raise ``InvalidRecord``."""
    tx_id = _require(data, "transaction_id", str)
    if not _UUID_RE.match(tx_id):
        raise InvalidRecord("bad_transaction_id", f"not a UUID: {tx_id!r}")
    bank_id = _require(data, "bank_id", str)
    if not _BANK_RE.match(bank_id):
        raise InvalidRecord("bad_bank_id", f"bank_id {bank_id!r}")
    # Free text is archived and quoted in alerts: a card number typed into it
    # is masked like any other (no-op, one regex scan, when there is none).
    bank_id = mask_free_text(bank_id)
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
    if amount > max_amount:
        raise InvalidRecord("amount_above_maximum", f"amount {amount} above {max_amount}")
    # Letter case is normalised; a well-formed code that ISO 4217 does not
    # know is flagged (quality_flags), only a malformed one is rejected.
    currency = _require(data, "currency", str).strip().upper()
    if not _CODE3_RE.match(currency):
        raise InvalidRecord("bad_currency", "currency must be 3 letters (ISO 4217)")
    merchant = _require(data, "merchant", str)
    if not merchant.strip() or len(merchant) > 200:
        raise InvalidRecord("bad_merchant", "merchant must be 1-200 characters")
    merchant = mask_free_text(merchant)
    country = _require(data, "country", str).strip().upper()
    if not _CODE2_RE.match(country):
        raise InvalidRecord("bad_country", "country must be 2 letters (ISO 3166-1 alpha-2)")
    stamp = _require(data, "timestamp", str)
    when = parse_timestamp(stamp)
    if when > (now or datetime.now(UTC)) + MAX_FUTURE:
        raise InvalidRecord("future_timestamp", f"{stamp} is in the future")
    extras = {name: data.get(name) for name in OPTIONAL_FIELDS}
    for name, value in extras.items():
        if value is not None and not isinstance(value, str):
            raise InvalidRecord("wrong_type", f"{name} must be str")
        if value:
            extras[name] = mask_free_text(value)
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
    card number that fails the Luhn check digit, one whose prefix belongs to
    another network, or a currency or country code the ISO lists do not know."""
    flags = []
    if tx.payment_system not in PAYMENT_SYSTEMS:
        flags.append(FLAG_UNKNOWN_SYSTEM)
    if not luhn_valid(tx.card_number):
        flags.append(FLAG_LUHN)
    if tx.payment_system in PAYMENT_SYSTEMS and network_of(tx.card_number) != tx.payment_system:
        flags.append(FLAG_NETWORK)
    if tx.currency not in codes.CURRENCIES:
        flags.append(FLAG_UNKNOWN_CURRENCY)
    if tx.country not in codes.COUNTRIES:
        flags.append(FLAG_UNKNOWN_COUNTRY)
    return tuple(flags)


def parse_transaction(
    raw: bytes, *, now: datetime | None = None, max_amount: float = MAX_AMOUNT
) -> Transaction:
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
    return validate_transaction(data, now=now, max_amount=max_amount)


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
SEVERITY_RANK: Final = {name: index for index, name in enumerate(SEVERITIES)}
"""Each severity's place in ``SEVERITIES``: the higher, the more severe."""


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
