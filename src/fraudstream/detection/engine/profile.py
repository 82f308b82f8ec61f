"""Per-card and per-user profiles: compact, bounded, pure Python.

(The per-merchant profile is in ``merchant.py``.)

A profile is what the keyed operator keeps for one card (or user) between
transactions. Rules read it (``rules/types``); only ``update`` changes it,
after every rule has looked at the transaction. Its size is bounded by the
catalogue's ``Sizes`` (the longest history any enabled rule needs), and the
job drops a profile unseen for longer than the longest window (state TTL).

Profiles are stored in Flink as plain tuples (``to_state``/``from_state``),
so a catalogue change restores them: a new rule reads what the profile
already holds, and a larger history fills as transactions arrive.

Size per card with the bundled catalogue (pickled, measured in
``tests/unit/detection/engine/test_profile.py``; see docs/DETECTION.md):
about 0.30 KB for a card with 3 transactions, 1.3 KB for one at the hourly
velocity limit in 5 countries, plus about 2.3 KB per open alert episode.

Late records (older than the card's latest) are evaluated against the profile
as it stands: windows count the kept history only (the newest ``Sizes.times``
event times, twice what an in-order record needs; countries seen within two
windows, by their latest sighting), so a record later than that history
reaches back may be under-counted. They are counted as out of order.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from fraudstream.detection.engine.tx import Tx

STATE_VERSION: Final = 1
RECENT_IDS: Final = 10
"""Transaction ids kept for evidence (the most recent ones)."""
TINY: Final = 5.0
"""An amount at most this is a tiny one (card checks) for the habits."""


@dataclass(frozen=True)
class Sizes:
    """How much card history a rule needs; the profile keeps the maximum over
    the enabled rules, so it stays bounded whatever the catalogue says."""

    times: int = 0
    """previous event times kept (velocity windows)"""
    amounts: int = 0
    """previous amounts kept (amount history)"""
    smalls: int = 0
    """trailing run of small amounts kept (card testing)"""
    small_max: float = 0.0
    """an amount is part of the small run when at most this"""
    country_window_s: int = 0
    """how long a country stays in the card's recent countries"""
    window_s: int = 0
    """the longest look-back of the rule, for the profile's time-to-live"""
    habits: int = 0
    """merchants, categories and countries the card used, kept (most recent
    first out); 0: not kept (only the risk score reads them)"""
    categories: tuple[str, ...] = ()
    """merchant categories whose latest use the (user) profile remembers"""
    cards: int = 0
    """distinct recent cards a merchant profile keeps"""
    tumbling_s: int = 0
    """width of a tumbling window the (user) profile keeps"""

    def merge(self, other: Sizes) -> Sizes:
        return Sizes(
            habits=max(self.habits, other.habits),
            times=max(self.times, other.times),
            amounts=max(self.amounts, other.amounts),
            smalls=max(self.smalls, other.smalls),
            small_max=max(self.small_max, other.small_max),
            country_window_s=max(self.country_window_s, other.country_window_s),
            window_s=max(self.window_s, other.window_s),
            categories=tuple(sorted({*self.categories, *other.categories})),
            cards=max(self.cards, other.cards),
            tumbling_s=max(self.tumbling_s, other.tumbling_s),
        )


def _push(items: list[Any], value: Any, keep: int) -> None:
    """Append ``value``, keeping the latest ``keep`` items."""
    items.append(value)
    if len(items) > keep:
        del items[0]


class CardProfile:
    """What one card has done recently, in arrival order where it matters."""

    __slots__ = (
        "amount_categories",
        "amounts",
        "categories",
        "countries",
        "episodes",
        "homes",
        "last_country",
        "last_id",
        "last_ms",
        "merchants",
        "recent",
        "seen",
        "smalls",
        "times",
        "tinies",
        "user",
    )

    def __init__(self) -> None:
        self.seen = 0
        """transactions seen (ever, while the profile lived)"""
        self.last_ms = 0
        """latest event time seen (0: none yet); a late record does not move it back"""
        self.last_country = ""
        self.last_id = ""
        self.times: list[int] = []
        """previous event times, ascending (bounded)"""
        self.recent: list[tuple[int, str]] = []
        """(event ms, transaction id) of the last RECENT_IDS transactions, arrival order"""
        self.amounts: list[float] = []
        """previous amounts, arrival order (bounded)"""
        self.amount_categories: list[str] = []
        """the merchant category of each of ``amounts`` (the latest ones when a
        state written before them holds fewer)"""
        self.countries: dict[str, int] = {}
        """country -> latest event time it was seen"""
        self.smalls: list[tuple[int, str, float]] = []
        """trailing run of small amounts: (event ms, transaction id, amount)"""
        self.episodes: dict[str, list[Any]] = {}
        """rule id -> open episode (see engine.Episode)"""
        self.merchants: dict[str, int] = {}
        """habits: merchant -> latest event time (at most Sizes.habits)"""
        self.categories: dict[str, int] = {}
        """habits: merchant category -> transactions (at most Sizes.habits)"""
        self.homes: dict[str, int] = {}
        """habits: country -> transactions (at most Sizes.habits)"""
        self.tinies: list[int] = []
        """habits: event times of the latest amounts at most TINY (at most Sizes.habits)"""
        self.user: UserProfile | None = None
        """the card's user's profile while the card rules evaluate (not stored
        with the card: set by ``engine.holder`` when a rule reads it)"""

    # -- reading -------------------------------------------------------------

    def count_since(self, since_ms: int, until_ms: int) -> int:
        """Previous transactions with since_ms < event time <= until_ms."""
        times = self.times
        return bisect_right(times, until_ms) - bisect_right(times, since_ms)

    def ids_since(self, since_ms: int, until_ms: int) -> list[str]:
        """Ids of the recent transactions (at most RECENT_IDS) in that range."""
        return [tid for ms, tid in self.recent if since_ms < ms <= until_ms]

    # -- writing -------------------------------------------------------------

    def update(self, tx: Tx, sizes: Sizes) -> bool:
        """Add ``tx``; return True when it arrived out of order (older than
        the card's latest event time). Bounded by ``sizes``."""
        ms = tx.event_ms
        late = ms < self.last_ms
        self.seen += 1
        if sizes.times:
            times = self.times
            if not times or ms >= times[-1]:
                times.append(ms)
            else:
                insort(times, ms)
            if len(times) > sizes.times:
                del times[: len(times) - sizes.times]
        recent = self.recent
        recent.append((ms, tx.transaction_id))
        if len(recent) > RECENT_IDS:
            del recent[0]
        if sizes.amounts:
            _push(self.amounts, tx.amount, sizes.amounts)
            _push(self.amount_categories, tx.merchant_category or "", sizes.amounts)
        if sizes.country_window_s:
            countries = self.countries
            if countries.get(tx.country, -1) < ms:
                countries[tx.country] = ms
            # Two windows back, so a late record still sees the countries of
            # its own window.
            horizon = max(ms, self.last_ms) - 2 * sizes.country_window_s * 1000
            if len(countries) > 1:
                for code in [c for c, seen in countries.items() if seen <= horizon]:
                    del countries[code]
        if sizes.smalls:
            if tx.amount <= sizes.small_max:
                smalls = self.smalls
                smalls.append((ms, tx.transaction_id, tx.amount))
                if len(smalls) > sizes.smalls:
                    del smalls[0]
            elif self.smalls:
                self.smalls = []
        if sizes.habits:
            self._habits(tx, sizes.habits)
        if not late:
            self.last_ms = ms
            self.last_country = tx.country
            self.last_id = tx.transaction_id
        return late

    def _habits(self, tx: Tx, keep: int) -> None:
        ms = tx.event_ms
        merchants = self.merchants
        merchants.pop(tx.merchant, None)
        merchants[tx.merchant] = ms  # insertion order: least recent first
        if len(merchants) > keep:
            del merchants[next(iter(merchants))]
        for counts, key in (
            (self.categories, tx.merchant_category or ""),
            (self.homes, tx.country),
        ):
            counts[key] = counts.get(key, 0) + 1
            if len(counts) > keep:
                rarest = min(counts, key=counts.__getitem__)
                del counts[rarest if rarest != key else next(k for k in counts if k != key)]
        if tx.amount <= TINY:
            self.tinies.append(ms)
            if len(self.tinies) > keep:
                del self.tinies[0]

    # -- state ---------------------------------------------------------------

    def to_state(self) -> tuple[Any, ...]:
        return (
            STATE_VERSION,
            self.seen,
            self.last_ms,
            self.last_country,
            self.last_id,
            self.times,
            self.recent,
            self.amounts,
            self.countries,
            self.smalls,
            self.episodes,
            self.merchants,
            self.categories,
            self.homes,
            self.tinies,
            self.amount_categories,
        )

    @classmethod
    def from_state(cls, state: tuple[Any, ...] | None) -> CardProfile:
        profile = cls()
        if state is None or state[0] != STATE_VERSION:
            return profile
        (
            _,
            profile.seen,
            profile.last_ms,
            profile.last_country,
            profile.last_id,
            profile.times,
            profile.recent,
            profile.amounts,
            profile.countries,
            profile.smalls,
            profile.episodes,
        ) = state[:11]
        if len(state) > 11:  # habits (absent from a state written before them)
            profile.merchants, profile.categories, profile.homes, profile.tinies = state[11:15]
        if len(state) > 15:  # categories of the amounts (idem)
            profile.amount_categories = state[15]
        return profile


class Window(NamedTuple):
    """One tumbling window of a user before the current transaction."""

    count: int  # type: ignore[assignment]
    countries: frozenset[str]
    ids: tuple[str, ...]


_EMPTY: Final = Window(0, frozenset(), ())
_NO_SIZES: Final = Sizes()
USER_STATE_VERSION: Final = 2
"""User profiles since the sliding windows; version 1 (tumbling windows only) still loads."""


class UserProfile:
    """Per-user state of user-scope rules: the user's recent transactions over
    all their cards (sliding windows), their recent amounts, when they last used
    each watched merchant category, and the current tumbling window of each
    width the legacy rules use. Bounded like a card profile, by ``Sizes``."""

    __slots__ = (
        "amount_categories",
        "amounts",
        "episodes",
        "history",
        "last_ms",
        "risky",
        "seen",
        "windows",
    )

    def __init__(self) -> None:
        self.windows: dict[int, list[Any]] = {}
        """width (s) -> [window index, transaction count, countries, last ids]"""
        self.episodes: dict[str, list[Any]] = {}
        self.seen = 0
        self.last_ms = 0
        self.history: list[tuple[int, str, str]] = []
        """(event ms, transaction id, masked card) of previous transactions,
        ascending by time (bounded by ``Sizes.times``)"""
        self.amounts: list[float] = []
        """previous amounts, arrival order (bounded by ``Sizes.amounts``)"""
        self.amount_categories: list[str] = []
        """the merchant category of each of ``amounts`` (the latest ones when a
        state written before them holds fewer)"""
        self.risky: dict[str, int] = {}
        """watched merchant category -> latest event time the user used it"""

    # -- reading -------------------------------------------------------------

    def window(self, width_s: int, index: int) -> Window:
        """The window ``index`` of width ``width_s`` as it stands (empty if it is
        not the current one)."""
        current = self.windows.get(width_s)
        if current is None or current[0] != index:
            return _EMPTY
        return Window(current[1], frozenset(current[2]), tuple(current[3]))

    def since(self, since_ms: int, until_ms: int) -> list[tuple[int, str, str]]:
        """Previous transactions with since_ms < event time <= until_ms."""
        history = self.history
        lo = bisect_right(history, (since_ms, "\uffff"))
        hi = bisect_right(history, (until_ms, "\uffff"))
        return history[lo:hi]

    # -- writing -------------------------------------------------------------

    def update(self, tx: Tx, widths: tuple[int, ...], sizes: Sizes = _NO_SIZES) -> bool:
        """Add ``tx``; True when it is late (older than the user's latest; a late
        record's tumbling window, if older than the current one, does not count it)."""
        ms = tx.event_ms
        late = ms < self.last_ms
        self.seen += 1
        for width in widths:
            index = ms // (width * 1000)
            current = self.windows.get(width)
            if current is None or index > current[0]:
                self.windows[width] = [index, 1, [tx.country], [tx.transaction_id]]
            elif index == current[0]:
                current[1] += 1
                if tx.country not in current[2]:
                    current[2].append(tx.country)
                current[3].append(tx.transaction_id)
                if len(current[3]) > RECENT_IDS:
                    del current[3][0]
            else:
                late = True
        if sizes.times:
            entry = (ms, tx.transaction_id, tx.card_masked)
            history = self.history
            if not history or ms >= history[-1][0]:
                history.append(entry)
            else:
                insort(history, entry)
            if len(history) > sizes.times:
                del history[: len(history) - sizes.times]
        if sizes.amounts:
            _push(self.amounts, tx.amount, sizes.amounts)
            _push(self.amount_categories, tx.merchant_category or "", sizes.amounts)
        category = tx.merchant_category
        if (
            category is not None
            and category in sizes.categories
            and self.risky.get(category, -1) < ms
        ):
            self.risky[category] = ms
        if not late:
            self.last_ms = ms
        return late

    def to_state(self) -> tuple[Any, ...]:
        return (
            USER_STATE_VERSION,
            self.windows,
            self.episodes,
            self.seen,
            self.last_ms,
            self.history,
            self.amounts,
            self.risky,
            self.amount_categories,
        )

    @classmethod
    def from_state(cls, state: tuple[Any, ...] | None) -> UserProfile:
        profile = cls()
        if state is None:
            return profile
        if state[0] == STATE_VERSION:  # before the sliding windows: windows and episodes
            _, profile.windows, profile.episodes = state
        elif state[0] == USER_STATE_VERSION and len(state) >= 8:
            (
                _,
                profile.windows,
                profile.episodes,
                profile.seen,
                profile.last_ms,
                profile.history,
                profile.amounts,
                profile.risky,
            ) = state[:8]
            if len(state) > 8:  # categories of the amounts (absent before them)
                profile.amount_categories = state[8]
        return profile
