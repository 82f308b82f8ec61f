"""One user's profiles as the job keeps them: the user's own and each of its cards'.

The job keys its rule operator by user id: a card belongs to one user, so
every transaction of a card reaches the same key, in order, and the card and
user rules of a transaction run in one Python call with one state read and
one state write (the dominant cost per transaction, docs/DETECTION.md).

The profiles are kept as their ``to_state`` tuples; only the transaction's
own card is turned back into a ``CardProfile``. Each has the clock time it
was last written (the record's Kafka timestamp): one unseen for longer than
the engine's time-to-live starts afresh, like Flink's state TTL would drop
it, and is removed. At most ``MAX_CARDS`` cards are kept per user (the least
recently used goes first): a user id shared by many cards (a producer that
sends a constant) must not make every state access slow.

``fraudstream backtest`` replays through the same class, so the job and the
backtest keep and forget exactly the same profiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from fraudstream.detection.engine.profile import CardProfile, UserProfile
from fraudstream.records import Alert

if TYPE_CHECKING:
    from fraudstream.detection.engine.engine import Engine

HOLDER_STATE_VERSION: Final = 1
MAX_CARDS: Final = 32
"""Card profiles kept per user id; the least recently used beyond it is dropped."""


class UserProfiles:
    """The card profiles of one user id and its user profile, with their clocks."""

    __slots__ = ("_live", "cards", "user", "user_clock")

    def __init__(self) -> None:
        self.cards: dict[str, tuple[tuple[Any, ...], int]] = {}
        """card token -> (CardProfile state, clock ms of its last write); least recent first"""
        self.user: tuple[Any, ...] | None = None
        self.user_clock = 0
        self._live: UserProfile | None = None
        """the user's profile read by ``feed_card`` for ``feed_user`` (not stored)"""

    def feed_card(self, engine: Engine, tx: Any, now_ms: int, blocklist: Any = None) -> list[Alert]:
        """The card rules on ``tx`` against its card's profile, which it then
        joins. When user profiles are kept, the card rules see the user's as it
        was before ``tx`` (the risk score reads it; their alerts join the
        user's case); ``feed_user`` then adds ``tx`` to it."""
        ttl_ms = engine.ttl_s * 1000
        clock = tx.ingested_ms
        profile = self.card(tx.card_token, clock, ttl_ms)
        if engine.keeps_users:
            profile.user = self._live = self.user_profile(clock, ttl_ms)
        alerts = engine.card(profile, tx, now_ms, blocklist)
        profile.user = None
        self.put_card(tx.card_token, profile, clock, ttl_ms)
        return alerts

    def feed_user(self, engine: Engine, tx: Any, now_ms: int) -> list[Alert]:
        """The user rules on ``tx`` against the user's profile, which it then
        joins (no user profile kept: nothing)."""
        live, self._live = self._live, None
        if not engine.keeps_users:
            return []
        clock = tx.ingested_ms
        profile = live if live is not None else self.user_profile(clock, engine.ttl_s * 1000)
        alerts = engine.user(profile, tx, now_ms)
        self.put_user(profile, clock)
        return alerts

    def card(self, token: str, clock_ms: int, ttl_ms: int) -> CardProfile:
        """The card's profile, or a fresh one if it is unknown or expired."""
        held = self.cards.get(token)
        if held is None or clock_ms - held[1] > ttl_ms:
            return CardProfile()
        return CardProfile.from_state(held[0])

    def put_card(self, token: str, profile: CardProfile, clock_ms: int, ttl_ms: int) -> None:
        cards = self.cards
        held = cards.pop(token, None)
        clock = clock_ms if held is None else max(clock_ms, held[1])
        cards[token] = (profile.to_state(), clock)
        if len(cards) > 1:
            for stale in [t for t, (_, seen) in cards.items() if clock - seen > ttl_ms]:
                del cards[stale]
            while len(cards) > MAX_CARDS:
                del cards[next(iter(cards))]

    def user_profile(self, clock_ms: int, ttl_ms: int) -> UserProfile:
        if self.user is None or clock_ms - self.user_clock > ttl_ms:
            return UserProfile()
        return UserProfile.from_state(self.user)

    def put_user(self, profile: UserProfile, clock_ms: int) -> None:
        self.user = profile.to_state()
        self.user_clock = max(clock_ms, self.user_clock)

    def to_state(self) -> tuple[Any, ...]:
        return (HOLDER_STATE_VERSION, self.cards, self.user, self.user_clock)

    @classmethod
    def from_state(cls, state: tuple[Any, ...] | None) -> UserProfiles:
        holder = cls()
        if state is not None and state[0] == HOLDER_STATE_VERSION:
            _, holder.cards, holder.user, holder.user_clock = state
        return holder
