"""Legitimate traffic plus injected fraud scenarios on a simulated clock.

Each bank has its own event-time clock that advances by ``1 / clock_rate``
seconds per legitimate transaction; the banks and the pending scenario
transactions are merged in event-time order. Everything random comes from
one ``random.Random(seed)`` (the population from the seed alone), so a seed
reproduces the stream exactly.

The clock rate defaults to the bank's configured rate, so every card keeps
the rhythm of a real customer (one purchase every minute or so) whatever the
sending rate: at 50,000 tx/s event time runs slower than the wall clock
instead of giving each card hundreds of purchases per second.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fraudstream.records import Transaction
from fraudstream.simulator import scenarios
from fraudstream.simulator.banks import Bank, load_banks, select_banks
from fraudstream.simulator.population import (
    CATEGORIES,
    COUNTRIES,
    TRAVEL_MCCS,
    User,
    json_str,
    make_population,
    travel_hours,
)
from fraudstream.simulator.rows import Label, Row, epoch, to_transaction

DEFAULT_FRAUD_RATE = 0.002
# Per purchase of a traveller: chance to set off abroad, and to head home.
DEPART_P = 0.02
RETURN_P = 0.05
ABROAD_HOMES = tuple(COUNTRIES)


@dataclass(slots=True)
class _Shopper:
    """A user prepared for the hot path: JSON-escaped merchants, weights."""

    user: User
    offset: int
    merchants: tuple[tuple[str, str, float], ...]  # (mcc, merchant json, typical amount)
    # Where the user is, and when they can next pay (travellers in transit).
    country: str = ""
    available_from: float = 0.0


def _prepare(user: User) -> _Shopper:
    merchants = tuple(
        (mcc, json_str(name), CATEGORIES[mcc].typical * user.typical_amount)
        for mcc, name in user.merchants
    )
    return _Shopper(user, COUNTRIES[user.home].utc_offset, merchants, user.home)


# Merchants a traveller uses abroad: (mcc, merchant json, amount factor).
_TRAVEL = tuple(
    (mcc, json_str(name), CATEGORIES[mcc].typical)
    for mcc in TRAVEL_MCCS
    for name in CATEGORIES[mcc].merchants
)
# Log-normal spread of amounts around the typical one, drawn by index: one
# random() per record instead of gauss() and exp().
_SPREAD = tuple(math.exp(random.Random(0).gauss(0.0, 0.45)) for _ in range(4096))


def _awake(shopper: _Shopper, utc_hour: int) -> bool:
    local = (utc_hour + shopper.offset) % 24
    return shopper.user.active_from <= local < shopper.user.active_to


@dataclass(slots=True)
class _BankClock:
    bank: Bank
    shoppers: list[_Shopper]
    victims: list[_Shopper]
    awake: list[list[_Shopper]]  # by UTC hour: users within their active hours
    step: float
    next_time: float
    slots: int = 0


@dataclass(slots=True)
class Generator:
    """Produces ``(row, label | None)`` pairs in event-time order."""

    banks: Sequence[Bank]
    seed: int = 0
    fraud_rate: float = DEFAULT_FRAUD_RATE
    start: float = 0.0
    clock_rates: dict[str, float] | None = None
    scenario_names: Sequence[str] = tuple(scenarios.SCENARIOS)
    part: int = 0
    parts: int = 1
    # Scenarios that would not finish by this event time are not started, so
    # a bounded run holds complete scenarios only.
    horizon: float | None = None
    _rng: random.Random = field(init=False)
    _clocks: list[_BankClock] = field(init=False)
    _pending: list[tuple[float, int, Row, Label]] = field(init=False)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        unknown = set(self.scenario_names) - set(scenarios.SCENARIOS)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}")
        if not 0 <= self.fraud_rate <= 1:
            raise ValueError("fraud_rate must be between 0 and 1")
        # Each part of a multi-process run draws its own stream.
        self._rng = random.Random(self.seed * 1_000_003 + self.part)
        self._pending = []
        self._clocks = []
        for bank in self.banks:
            users = make_population(
                self.seed,
                bank.bank_id,
                bank.first_user,
                bank.last_user,
                bank.home_countries,
                bank.networks,
                bank.travellers,
                part=self.part,
                parts=self.parts,
            )
            if not users:
                continue
            shoppers = [_prepare(u) for u in users]
            victims = [s for s in shoppers if not s.user.traveller] or shoppers
            rate = (self.clock_rates or {}).get(bank.bank_id, bank.rate) / self.parts
            step = 1.0 / rate
            # Stagger the banks so their first records do not share a timestamp.
            awake = [[s for s in shoppers if _awake(s, h)] or shoppers for h in range(24)]
            self._clocks.append(
                _BankClock(
                    bank, shoppers, victims, awake, step, self.start + self._rng.random() * step
                )
            )
        if not self._clocks:
            raise ValueError("no users to simulate")

    @property
    def now(self) -> float:
        """Event time of the next legitimate transaction."""
        return min(c.next_time for c in self._clocks)

    def inject(self, name: str, bank_id: str | None = None, at: float | None = None) -> list[Label]:
        """Schedule one scenario now (or at ``at``) on a random victim."""
        clocks = [c for c in self._clocks if bank_id is None or c.bank.bank_id == bank_id]
        clock = self._rng.choice(clocks)
        shopper = self._rng.choice(clock.victims)
        card = self._rng.choice(shopper.user.cards)
        when = self.now if at is None else at
        built = scenarios.build(name, self._rng, shopper.user, card, when)
        if self.horizon is not None and built[-1][0][9] > self.horizon:
            return []
        labels = []
        for row, label in built:
            self._seq += 1
            heapq.heappush(self._pending, (row[9], self._seq, row, label))
            labels.append(label)
        return labels

    @property
    def pending(self) -> int:
        """Scheduled scenario transactions not yet emitted."""
        return len(self._pending)

    def pop_pending(self) -> tuple[Row, Label]:
        _, _, row, label = heapq.heappop(self._pending)
        return row, label

    def batch(self, n: int) -> list[tuple[Row, Label | None]]:
        """The next ``n`` transactions in event-time order."""
        out: list[tuple[Row, Label | None]] = []
        rng = self._rng
        random_ = rng.random
        pending = self._pending
        clocks = self._clocks
        single = clocks[0] if len(clocks) == 1 else None
        fraud_rate = self.fraud_rate
        names = self.scenario_names
        while len(out) < n:
            clock = single or min(clocks, key=_next_time)
            if pending and pending[0][0] <= clock.next_time:
                _, _, prow, plabel = heapq.heappop(pending)
                out.append((prow, plabel))
                continue
            t = clock.next_time
            clock.next_time = t + clock.step
            clock.slots += 1
            if fraud_rate and names and random_() < fraud_rate:
                self.inject(rng.choice(names), clock.bank.bank_id, at=t)
                continue
            row = self._legit(clock, t)
            if row is not None:
                out.append((row, None))
        return out

    def _legit(self, clock: _BankClock, t: float) -> Row | None:
        rng = self._rng
        random_ = rng.random
        # Nine in ten purchases come from users within their active hours.
        pool = clock.awake[int(t / 3600.0) % 24] if random_() < 0.9 else clock.shoppers
        for attempt in range(5):
            if attempt < 4:
                s = pool[int(random_() * len(pool))]
                if t < s.available_from:
                    continue  # in the air
                if s.user.traveller and not self._stays(s, t):
                    continue
            else:
                # Keep the bank's rate whatever happens: a stay-at-home user.
                s = clock.victims[int(random_() * len(clock.victims))]
            u = s.user
            if s.country != u.home and random_() < 0.6:
                mcc, merchant, factor = _TRAVEL[int(random_() * len(_TRAVEL))]
                typical = factor * u.typical_amount
            else:
                mcc, merchant, typical = s.merchants[int(random_() * len(s.merchants))]
            cards = u.cards
            card = cards[0] if len(cards) == 1 or random_() < 0.7 else rng.choice(cards)
            amount = typical * _SPREAD[int(random_() * 4096)]
            amount = 0.5 if amount < 0.5 else (3000.0 if amount > 3000.0 else amount)
            return (
                scenarios.new_id(rng),
                u.bank_id,
                card.payment_system,
                card.number,
                u.user_id,
                round(amount, 2),
                u.currency,
                merchant,
                s.country,
                t,
                mcc,
                "online" if random_() < u.online_share else "pos",
            )
        return None

    def _stays(self, s: _Shopper, t: float) -> bool:
        """Maybe set a traveller off on a flight; False while they fly."""
        u = s.user
        rng = self._rng
        if s.country == u.home:
            if rng.random() >= DEPART_P:
                return True
            destination = rng.choice([c for c in ABROAD_HOMES if c != u.home])
        else:
            if rng.random() >= RETURN_P:
                return True
            destination = u.home
        s.available_from = t + travel_hours(s.country, destination) * 3600.0
        s.country = destination
        return False


def _next_time(clock: _BankClock) -> float:
    return clock.next_time


def scaled_rates(banks: Sequence[Bank], total: float | None) -> dict[str, float]:
    """Per-bank rates keeping the configured proportions, summing to ``total``."""
    configured = sum(b.rate for b in banks)
    factor = 1.0 if total is None else total / configured
    return {b.bank_id: b.rate * factor for b in banks}


# Longest span of any scenario (impossible travel: up to 15 minutes).
SCENARIO_SPAN_S = 900.0


def generate(
    *,
    seed: int = 0,
    count: int | None = None,
    duration: float | None = None,
    banks: Sequence[Bank] | Sequence[str] | None = None,
    fraud_rate: float = DEFAULT_FRAUD_RATE,
    start: datetime | float | None = None,
    clock_rate: float | None = None,
    scenario_names: Sequence[str] | None = None,
) -> Iterator[tuple[Transaction, Label | None]]:
    """Transactions with their labels (None for legitimate ones).

    Give ``count`` (transactions) or ``duration`` (simulated seconds). Every
    scenario started is complete in the output: with ``count`` the rare one
    that straddles the end adds its last steps after the ``count``-th record.
    ``clock_rate`` is the total transactions per simulated second (default:
    the banks' configured rates). Without ``start`` the stream is placed so
    that it ends before the current time.
    """
    if (count is None) == (duration is None):
        raise ValueError("give exactly one of count or duration")
    selected = resolve_banks(banks)
    rates = scaled_rates(selected, clock_rate)
    total = sum(rates.values())
    span = duration if duration is not None else float(count or 0) / total
    if start is None:
        begin = time.time() - span - SCENARIO_SPAN_S
    elif isinstance(start, datetime):
        begin = epoch(start)
    else:
        begin = float(start)
    gen = Generator(
        selected,
        seed=seed,
        fraud_rate=fraud_rate,
        start=begin,
        clock_rates=rates,
        scenario_names=tuple(scenario_names or scenarios.SCENARIOS),
        horizon=begin + duration if duration is not None else None,
    )
    produced = 0
    if duration is not None:
        end = begin + duration
        while True:
            for row, label in gen.batch(256):
                if row[9] > end:
                    return
                yield to_transaction(row), label
    assert count is not None
    while produced < count:
        # Only start scenarios that end well before the predicted last record.
        gen.horizon = gen.now + 0.8 * (count - produced) / total
        for row, label in gen.batch(min(256, count - produced)):
            produced += 1
            yield to_transaction(row), label
    gen.horizon = gen.now  # nothing new; finish what is pending
    while gen.pending:
        row, label = gen.pop_pending()
        yield to_transaction(row), label


def resolve_banks(banks: Sequence[Bank] | Sequence[str] | None) -> list[Bank]:
    configured = load_banks()
    if banks is None:
        return configured
    chosen = list(banks)
    if all(isinstance(b, Bank) for b in chosen):
        return [b for b in chosen if isinstance(b, Bank)]
    return select_banks(configured, [str(b) for b in chosen])
