"""The per-merchant profile: the distinct cards a merchant saw recently.

Merchants can be hot (a busy web shop sees thousands of cards an hour), and
the keyed operator reads and writes the whole profile on every transaction,
so it keeps only what ``card_enumeration`` reads, bounded twice: at most
``Sizes.cards`` distinct cards, and none older than two windows. Each entry
is a short tuple (the card's latest amount and channel here, no longer
history).
"""

from __future__ import annotations

import math
from typing import Any, Final, NamedTuple

from fraudstream.detection.engine.profile import Sizes
from fraudstream.detection.engine.tx import Tx

MERCHANT_STATE_VERSION: Final = 2
TOKEN_CHARS: Final = 16
"""Characters of the card token kept to tell cards apart (64 bits of the hash)."""


class SeenCard(NamedTuple):
    """One card as a merchant remembers it."""

    ms: int
    """its latest event time at this merchant"""
    token: str
    """the first TOKEN_CHARS of its token"""
    bin: str
    """first six digits of the card number (from the masked form)"""
    last4: int
    """last four digits of the card number"""
    transaction_id: str
    """its latest transaction at this merchant"""
    amount: float
    """the amount of that transaction"""
    channel: str
    """the channel of that transaction ("" when it has none)"""


def card_parts(masked: str) -> tuple[str, int]:
    """Issuer prefix (first 6 digits) and last four digits of a masked card."""
    tail = masked[-4:]
    return masked[:6], int(tail) if tail.isdigit() else -1


class MerchantProfile:
    """Distinct cards seen recently at one merchant, oldest first."""

    __slots__ = ("cards", "episodes", "last_ms", "seen")

    def __init__(self) -> None:
        self.seen = 0
        self.last_ms = 0
        self.cards: list[tuple[Any, ...]] = []
        """SeenCard tuples, ascending by their latest event time (bounded)"""
        self.episodes: dict[str, list[Any]] = {}

    def recent(self, since_ms: int, until_ms: int) -> list[SeenCard]:
        """Cards last seen with since_ms < event time <= until_ms (this one excluded)."""
        return [SeenCard(*c) for c in self.cards if since_ms < c[0] <= until_ms]

    def update(self, tx: Tx, sizes: Sizes) -> bool:
        """Add ``tx``'s card; True when it is late (older than the merchant's latest)."""
        ms = tx.event_ms
        late = ms < self.last_ms
        self.seen += 1
        if not late:
            self.last_ms = ms
        if not sizes.cards:
            return late
        token = tx.card_token[:TOKEN_CHARS]
        cards = self.cards
        for index, entry in enumerate(cards):
            if entry[1] == token:
                if entry[0] > ms:
                    return late  # a late record of a card seen since
                del cards[index]
                break
        bin_, last4 = card_parts(tx.card_masked)
        entry = (ms, token, bin_, last4, tx.transaction_id, tx.amount, tx.channel or "")
        if not cards or ms >= cards[-1][0]:
            cards.append(entry)
        else:
            position = len(cards)
            while position and cards[position - 1][0] > ms:
                position -= 1
            cards.insert(position, entry)
        horizon = self.last_ms - 2 * sizes.window_s * 1000
        drop = 0
        while drop < len(cards) and cards[drop][0] <= horizon:
            drop += 1
        drop = max(drop, len(cards) - sizes.cards)
        if drop:
            del cards[:drop]
        return late

    def to_state(self) -> tuple[Any, ...]:
        return (MERCHANT_STATE_VERSION, self.seen, self.last_ms, self.cards, self.episodes)

    @classmethod
    def from_state(cls, state: tuple[Any, ...] | None) -> MerchantProfile:
        profile = cls()
        if state is not None and state[0] in (1, MERCHANT_STATE_VERSION):
            _, profile.seen, profile.last_ms, profile.cards, profile.episodes = state
            if state[0] == 1:
                # Version 1 kept no amount or channel: such a card still counts
                # for a rule without filters, never as a probe.
                profile.cards = [(*card, math.inf, "") for card in profile.cards]
        return profile
