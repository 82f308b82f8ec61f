"""Builders shared by the rule and engine tests: transactions, profiles, and
small runs of the engine. Everything is in-process and takes microseconds."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.merchant import MerchantProfile
from fraudstream.detection.engine.profile import CardProfile, Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import parse_catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.base import Finding
from fraudstream.records import Alert

T0_MS = 1_765_879_200_000
"""2025-12-16T10:00:00Z: aligned to the hour, so tumbling windows start here."""
MASKED = "411111******1111"


def ms(at: float) -> int:
    """Seconds after T0 as event milliseconds (floats allow 59.999)."""
    return T0_MS + round(at * 1000)


@dataclass
class Stream:
    """Builds transactions; ids read '<card>-<n>' so assertions stay legible."""

    txs: list[Tx] = field(default_factory=list)
    _counters: dict[str, Iterator[int]] = field(default_factory=dict)

    def tx(
        self,
        at: float,
        amount: float = 20.0,
        *,
        card: str = "A",
        country: str = "US",
        currency: str = "USD",
        merchant: str = "Corner Shop",
        user: int = 1,
        masked: str = MASKED,
        category: str | None = None,
    ) -> Tx:
        n = next(self._counters.setdefault(card, itertools.count(1)))
        tx = Tx(
            transaction_id=f"{card}-{n}",
            bank_id="BANK_A",
            payment_system="VISA",
            card_masked=masked,
            card_token=f"tok-{card}",
            user_id=user,
            amount=amount,
            currency=currency,
            merchant=merchant,
            country=country,
            event_ms=ms(at),
            merchant_category=category,
            channel=None,
            ingested_ms=ms(at),
        )
        self.txs.append(tx)
        return tx


def one(at: float = 0.0, amount: float = 20.0, **kwargs: Any) -> Tx:
    """A single transaction of card A."""
    return Stream().tx(at, amount, **kwargs)


def profile_of(txs: Iterable[Tx], sizes: Sizes) -> CardProfile:
    """The card profile after ``txs``, in the order given (arrival order)."""
    profile = CardProfile()
    for tx in txs:
        profile.update(tx, sizes)
    return profile


def evaluate_each(
    rule_type: str, params: Mapping[str, Any], txs: Iterable[Tx]
) -> list[Finding | None]:
    """Evaluate one card-scope rule on each transaction against the profile of
    the ones before it (the rule's own Sizes), as the engine does."""
    kind = REGISTRY[rule_type]
    parsed = kind.parse(dict(params))
    sizes = kind.sizes(parsed)
    profile = CardProfile()
    findings: list[Finding | None] = []
    for tx in txs:
        findings.append(kind.evaluate(parsed, profile, tx))
        profile.update(tx, sizes)
    return findings


def fired_on(findings: list[Finding | None], txs: list[Tx]) -> list[str]:
    """Ids of the transactions a rule fired on."""
    return [tx.transaction_id for tx, f in zip(txs, findings, strict=True) if f is not None]


def engine_of(rules: list[dict[str, Any]]) -> Engine:
    return Engine(parse_catalogue({"rules": rules}))


def run(
    engine: Engine,
    txs: Iterable[Tx],
    *,
    blocklist: Mapping[tuple[str, str], str] | None = None,
    cards: dict[str, CardProfile] | None = None,
    users: dict[int, UserProfile] | None = None,
    merchants: dict[str, MerchantProfile] | None = None,
) -> list[Alert]:
    """Every alert ``engine`` raises on ``txs`` (arrival order), one profile per
    card token, per user and per merchant as the keyed operators keep them."""
    cards = {} if cards is None else cards
    users = {} if users is None else users
    merchants = {} if merchants is None else merchants
    alerts: list[Alert] = []
    for tx in txs:
        now = tx.event_ms + 5
        card = cards.setdefault(tx.card_token, CardProfile())
        if engine.keeps_users:
            card.user = users.setdefault(tx.user_id, UserProfile())
        alerts += engine.card(card, tx, now, blocklist)
        card.user = None
        if engine.keeps_users:
            alerts += engine.user(users.setdefault(tx.user_id, UserProfile()), tx, now)
        if engine.has_merchant_rules:
            merchant = merchants.setdefault(tx.merchant, MerchantProfile())
            alerts += engine.merchant(merchant, tx, now)
    return alerts
