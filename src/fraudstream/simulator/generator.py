"""Legitimate traffic plus injected fraud scenarios on a simulated clock.

Each bank has its own event-time clock that advances by ``1 / clock_rate``
seconds per transaction slot; the banks and the pending scenario transactions
are merged in event-time order. A slot either starts a fraud scenario (with
probability ``fraud_rate``), or an honest look-alike episode (the bank's
``lookalike_rate``), or carries one legitimate purchase.

The clock rate defaults to the banks' configured rates, so every card keeps
the rhythm of a real customer (one purchase every minute or so). A producer
that sends in real time sets it to its send rate instead, so event time is
the send time; then, above the configured rates, each card buys more often.

Legitimate purchases are drawn with numpy, a chunk of ``CHUNK`` slots at a
time, from flat tables of the population (merchants, cards, habits); only
travellers, whose location changes over time, are handled one by one. The
chunking is internal: ``batch(n)`` serves any ``n`` from a buffer, so a seed
reproduces the same stream whatever the batch sizes asked for. Scenario
construction uses ``random.Random`` seeded from the same seed.
"""

from __future__ import annotations

import heapq
import random
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

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
from fraudstream.simulator.rows import FAST_TEMPLATE, Label, Row, epoch, to_transaction
from fraudstream.simulator.tables import Tables

DEFAULT_FRAUD_RATE = 0.002
VICTIM_TRIES = 200  # draws to find a victim with what a scenario needs
CHUNK = 1024
# Per purchase of a traveller: chance to set off abroad, and to head home.
DEPART_P = 0.02
RETURN_P = 0.05
AMOUNT_SIGMA = 0.45  # log-normal spread of amounts around the typical one
MIN_AMOUNT, MAX_LEGIT_AMOUNT = 0.5, 3000.0

# Merchants a traveller uses abroad: (mcc, merchant json, amount factor).
_TRAVEL = tuple(
    (mcc, json_str(name), CATEGORIES[mcc].typical)
    for mcc in TRAVEL_MCCS
    for name in CATEGORIES[mcc].merchants
)


@dataclass(slots=True)
class _Traveller:
    """Where a travelling user is, and when they can next pay."""

    country: str
    available_from: float = 0.0


@dataclass(slots=True)
class _BankClock:
    bank: Bank
    everyone: Any  # np.ndarray of global user indexes
    victims: Any  # the same, stay-at-home users only (scenario victims)
    step: float
    next_time: float
    slots: int = 0
    deck: Any = None  # np.ndarray: this round's order of users
    dealt: int = 0  # users of the deck already dealt


@dataclass(slots=True)
class Generator:
    """Produces ``(row, label | None)`` pairs in event-time order."""

    banks: Sequence[Bank]
    seed: int = 0
    fraud_rate: float = DEFAULT_FRAUD_RATE
    population_seed: int | None = None
    """Seed of the users and their cards (default: ``seed``). A stable one
    keeps each user's home and cards across runs with different streams."""
    start: float = 0.0
    clock_rates: dict[str, float] | None = None
    scenario_names: Sequence[str] = tuple(scenarios.SCENARIOS)
    lookalike_names: Sequence[str] = tuple(scenarios.LOOKALIKES)
    """honest look-alikes started at each bank's ``lookalike_rate``"""
    part: int = 0
    parts: int = 1
    # Scenarios that would not finish by this event time are not started, so
    # a bounded run holds complete scenarios only.
    horizon: float | None = None
    # Pull the clocks forward to the wall clock at each chunk (unpaced runs
    # with a very fast simulated clock: event time is then the send time).
    follow_wall: bool = False
    _rng: random.Random = field(init=False)
    _np: Any = field(init=False)
    _tables: Tables = field(init=False)
    _clocks: list[_BankClock] = field(init=False)
    _travellers: dict[int, _Traveller] = field(init=False)
    _pending: list[tuple[float, int, Row, Label | None]] = field(init=False)
    _away: dict[int, float] = field(init=False)
    """users on a look-alike trip: global index -> event time they are back"""
    _buffer: list[tuple[Row, Label | None]] = field(init=False)
    _pos: int = field(init=False, default=0)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        unknown = set(self.scenario_names) - set(scenarios.SCENARIOS)
        unknown |= set(self.lookalike_names) - set(scenarios.LOOKALIKES)
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}")
        if not 0 <= self.fraud_rate <= 1:
            raise ValueError("fraud_rate must be between 0 and 1")
        # Each part of a multi-process run, and each set of banks (one process
        # per bank in `fraudstream run`), draws its own stream and ids.
        banks_key = zlib.crc32(",".join(sorted(b.bank_id for b in self.banks)).encode())
        self._rng = random.Random(f"{self.seed}:{self.part}:{banks_key}")
        self._np = np.random.default_rng([self.seed, self.part, banks_key])
        self._pending, self._buffer, self._clocks = [], [], []
        self._away = {}
        everyone: list[User] = []
        spans = []
        for bank in self.banks:
            users = make_population(
                self.seed if self.population_seed is None else self.population_seed,
                bank.bank_id,
                bank.first_user,
                bank.last_user,
                bank.home_countries,
                bank.networks,
                bank.travellers,
                part=self.part,
                parts=self.parts,
                shared_share=bank.shared_accounts,
                big_spender_share=bank.big_spenders,
            )
            spans.append((bank, len(everyone), users))
            everyone.extend(users)
        self._tables = Tables(everyone)
        self._travellers = {i: _Traveller(u.home) for i, u in enumerate(everyone) if u.traveller}
        for bank, first, users in spans:
            if not users:
                continue
            index = np.arange(first, first + len(users))
            victims = np.array([i for i, u in zip(index, users, strict=True) if not u.traveller])
            rate = (self.clock_rates or {}).get(bank.bank_id, bank.rate) / self.parts
            step = 1.0 / rate
            # Stagger the banks so their first records do not share a timestamp.
            first_time = self.start + self._rng.random() * step
            self._clocks.append(
                _BankClock(bank, index, victims if len(victims) else index, step, first_time)
            )
        if not self._clocks:
            raise ValueError("no users to simulate")

    @property
    def now(self) -> float:
        """Event time of the next transaction."""
        if self._pos < len(self._buffer):
            return float(self._buffer[self._pos][0][9])
        return min(c.next_time for c in self._clocks)

    @property
    def pending(self) -> int:
        """Scheduled scenario transactions not yet emitted (buffered ones included)."""
        buffered = sum(1 for _, label in self._buffer[self._pos :] if label is not None)
        return len(self._pending) + buffered

    def pop_pending(self) -> tuple[Row, Label | None]:
        """The next scheduled scenario transaction (after any buffered rows)."""
        while self._pos < len(self._buffer):
            row, label = self._buffer[self._pos]
            self._pos += 1
            if label is not None:
                return row, label
        _, _, row, label = heapq.heappop(self._pending)
        return row, label

    def inject(self, name: str, bank_id: str | None = None, at: float | None = None) -> list[Label]:
        """Schedule one fraud scenario now (or at ``at``) on a random
        stay-at-home user (and the users it needs); its labels, or [] when it
        was not started (it would end past the horizon, or no user fits)."""
        built = self._schedule(name, bank_id, at)
        return [label for _, label in built if label is not None]

    def inject_lookalike(
        self, name: str, bank_id: str | None = None, at: float | None = None
    ) -> int:
        """Schedule one honest look-alike episode (``scenarios.LOOKALIKES``);
        its number of transactions (0 when not started)."""
        return len(self._schedule(name, bank_id, at))

    def _schedule(
        self, name: str, bank_id: str | None, at: float | None
    ) -> list[tuple[Row, Label | None]]:
        fraud = name in scenarios.SCENARIOS
        spec = scenarios.SCENARIOS[name] if fraud else scenarios.LOOKALIKES[name]
        clocks = [c for c in self._clocks if bank_id is None or c.bank.bank_id == bank_id]
        clock = self._rng.choice(clocks)
        group = self._victims(clock, spec)
        if group is None:
            return []
        users = [self._tables.users[i] for i in group]
        card = self._rng.choice(users[0].cards)
        when = self.now if at is None else at
        built: list[tuple[Row, Label | None]]
        if fraud:
            built = list(scenarios.build(name, self._rng, users, card, when))
        else:
            built = [
                (row, None) for row in scenarios.build_lookalike(name, self._rng, users, card, when)
            ]
        end = max(row[9] for row, _ in built)
        if self.horizon is not None and end > self.horizon:
            return []
        if spec.away:
            self._away[group[0]] = end
        for row, label in built:
            self._seq += 1
            heapq.heappush(self._pending, (row[9], self._seq, row, label))
        return built

    def _victims(self, clock: _BankClock, spec: scenarios.Spec) -> list[int] | None:
        """Global indexes of the users a scenario runs on, the victim first."""
        rng, users, pool = self._rng, self._tables.users, clock.victims
        # Room after the victim for consecutive users (numbers do not wrap).
        span = len(pool) - 3 * spec.users if spec.consecutive else 0
        for _ in range(VICTIM_TRIES):
            pos = rng.randrange(span if span > 0 else len(pool))
            victim = users[int(pool[pos])]
            if len(victim.cards) >= spec.min_cards and (victim.shared or not spec.shared):
                break
        else:
            return None
        group = [int(pool[pos])]
        if spec.consecutive:
            # The next users of the bank whose main card is on the same network:
            # consecutive account numbers under one issuer prefix.
            system = victim.cards[0].payment_system
            for step in range(pos + 1, len(pool)):
                if len(group) == spec.users:
                    break
                index = int(pool[step])
                if users[index].cards[0].payment_system == system:
                    group.append(index)
        else:
            group += [int(pool[rng.randrange(len(pool))]) for _ in range(spec.users - 1)]
        return group

    def batch(self, n: int) -> list[tuple[Row, Label | None]]:
        """The next ``n`` transactions in event-time order."""
        while len(self._buffer) - self._pos < n:
            if self._pos:
                del self._buffer[: self._pos]
                self._pos = 0
            self._buffer.extend(self._chunk())
        out = self._buffer[self._pos : self._pos + n]
        self._pos += n
        return out

    def _slots(self) -> tuple[Any, Any]:
        """Times and bank numbers of the next CHUNK slots, merged in time order."""
        steps = np.arange(CHUNK, dtype=np.float64)
        if self.follow_wall:
            wall = time.time()
            for c in self._clocks:
                c.next_time = max(c.next_time, wall)
        if len(self._clocks) == 1:
            clock = self._clocks[0]
            times = clock.next_time + steps * clock.step
            which = np.zeros(CHUNK, dtype=np.int64)
        else:
            all_times = np.concatenate([c.next_time + steps * c.step for c in self._clocks])
            all_which = np.repeat(np.arange(len(self._clocks)), CHUNK)
            order = np.argsort(all_times, kind="stable")[:CHUNK]
            times, which = all_times[order], all_which[order]
        taken = np.bincount(which, minlength=len(self._clocks))
        for clock, k in zip(self._clocks, taken.tolist(), strict=True):
            clock.next_time += k * clock.step
            clock.slots += k
        return times, which

    def _deal(self, clock: _BankClock, count: int) -> Any:
        """The next ``count`` users of ``clock``'s deck, reshuffling each round."""
        out = []
        while count > 0:
            if clock.deck is None or clock.dealt >= len(clock.deck):
                clock.deck = self._np.permutation(clock.everyone)
                clock.dealt = 0
            take = min(count, len(clock.deck) - clock.dealt)
            out.append(clock.deck[clock.dealt : clock.dealt + take])
            clock.dealt += take
            count -= take
        return np.concatenate(out)

    def _chunk(self) -> list[tuple[Row, Label | None]]:
        times, which = self._slots()
        g, tb = self._np, self._tables
        u = g.random((7, CHUNK))
        users = np.empty(CHUNK, dtype=np.int64)
        # Each bank deals its users like a shuffled deck: every user once per
        # round (N users / rate seconds), in a fresh random order each round.
        # Independent draws would give some cards several purchases a minute
        # by chance and make honest customers look like velocity fraud.
        for index in np.unique(which).tolist():
            here = np.flatnonzero(which == index)
            users[here] = self._deal(self._clocks[index], len(here))
        merchant = tb.m_off[users] + (u[2] * tb.m_cnt[users]).astype(np.int64)
        spread = g.lognormal(0.0, AMOUNT_SIGMA, CHUNK)
        amount = np.round(np.clip(tb.typical[merchant] * spread, MIN_AMOUNT, MAX_LEGIT_AMOUNT), 2)
        channel = np.where(u[5] < tb.online[users], "online", "pos").astype(object)
        countries = tb.home[users]
        mcc, merchants = tb.mcc[merchant], tb.merchant[merchant]
        fraud = (
            u[6] < self.fraud_rate
            if self.fraud_rate and self.scenario_names
            else np.zeros(CHUNK, dtype=bool)
        )
        for i in np.flatnonzero(tb.traveller[users] & ~fraud).tolist():
            self._travel(
                i, float(times[i]), int(which[i]), users, countries, mcc, merchants, amount
            )
        if self._away:
            self._stay_away(times, which, users, countries, mcc, merchants, amount)
        # After the travellers: some were swapped for a stay-at-home user.
        cards = tb.c_cnt[users]
        card = tb.c_off[users] + np.where(
            (cards == 1) | (u[3] < 0.7), 0, (u[4] * cards).astype(np.int64)
        )
        card_col = tb.card[card].tolist()
        system_col = tb.system[card].tolist()
        hexes = g.bytes(16 * CHUNK).hex()
        ids = [
            f"{hexes[i : i + 8]}-{hexes[i + 8 : i + 12]}-4{hexes[i + 13 : i + 16]}-"
            f"{_VARIANT[hexes[i + 16]]}{hexes[i + 17 : i + 20]}-{hexes[i + 20 : i + 32]}"
            for i in range(0, 32 * CHUNK, 32)
        ]
        amount_col = amount.tolist()
        currency_col = tb.currency[users].tolist()
        merchant_col = merchants.tolist()
        country_col = countries.tolist()
        mcc_col, channel_col = mcc.tolist(), channel.tolist()
        stamps = np.datetime_as_string(
            (times * 1000.0).astype(np.int64).astype("datetime64[ms]"), unit="ms"
        ).tolist()
        values = [
            FAST_TEMPLATE % fields
            for fields in zip(
                ids,
                tb.card_part[card].tolist(),
                amount_col,
                currency_col,
                merchant_col,
                country_col,
                stamps,
                mcc_col,
                channel_col,
                strict=True,
            )
        ]
        rows: list[Row] = list(
            zip(
                ids,
                tb.bank_id[users].tolist(),
                system_col,
                card_col,
                tb.user_id[users].tolist(),
                amount_col,
                currency_col,
                merchant_col,
                country_col,
                times.tolist(),
                mcc_col,
                channel_col,
                values,
                strict=True,
            )
        )
        lookalike = np.zeros(CHUNK, dtype=bool)
        if self.lookalike_names and any(c.bank.lookalike_rate for c in self._clocks):
            rates = np.array([c.bank.lookalike_rate for c in self._clocks])
            lookalike = (g.random(CHUNK) < rates[which]) & ~fraud
            for i in np.flatnonzero(lookalike).tolist():
                bank_id = self._clocks[int(which[i])].bank.bank_id
                name = self._rng.choice(self.lookalike_names)
                self.inject_lookalike(name, bank_id, at=float(times[i]))
        if fraud.any():
            names = self.scenario_names
            for i in np.flatnonzero(fraud).tolist():
                bank_id = self._clocks[int(which[i])].bank.bank_id
                self.inject(self._rng.choice(names), bank_id, at=float(times[i]))
        if fraud.any() or lookalike.any():
            fraud = fraud | lookalike
            keep = (~fraud).tolist()
            rows = [row for row, k in zip(rows, keep, strict=True) if k]
        out: list[tuple[Row, Label | None]] = [(row, None) for row in rows]
        end = float(times[-1])
        due: list[tuple[Row, Label | None]] = []
        while self._pending and self._pending[0][0] <= end:
            _, _, row, label = heapq.heappop(self._pending)
            due.append((row, label))
        if due:
            out.extend(due)
            out.sort(key=lambda item: item[0][9])
        return out

    def _travel(
        self,
        i: int,
        t: float,
        bank: int,
        users: Any,
        countries: Any,
        mcc: Any,
        merchants: Any,
        amount: Any,
    ) -> None:
        """Place traveller row ``i``: abroad, at home, or (in flight) someone else."""
        index = int(users[i])
        state = self._travellers[index]
        user = self._tables.users[index]
        rng = self._rng
        if t < state.available_from or not self._stays(state, user, t):
            self._swap(i, bank, users, countries, mcc, merchants, amount)
            return
        countries[i] = state.country
        if state.country != user.home and rng.random() < 0.6:
            code, name, factor = _TRAVEL[rng.randrange(len(_TRAVEL))]
            mcc[i], merchants[i] = code, name
            amount[i] = round(
                max(
                    MIN_AMOUNT,
                    min(
                        MAX_LEGIT_AMOUNT,
                        factor * user.typical_amount * rng.lognormvariate(0, AMOUNT_SIGMA),
                    ),
                ),
                2,
            )

    def _stay_away(
        self,
        times: Any,
        which: Any,
        users: Any,
        countries: Any,
        mcc: Any,
        merchants: Any,
        amount: Any,
    ) -> None:
        """Give the slots of users away on a look-alike trip to someone else."""
        now = float(times[0])
        for index in [i for i, back in self._away.items() if back < now]:
            del self._away[index]
        away = np.isin(users, np.fromiter(self._away, dtype=np.int64))
        for i in np.flatnonzero(away).tolist():
            if times[i] < self._away.get(int(users[i]), 0.0):
                self._swap(i, int(which[i]), users, countries, mcc, merchants, amount)

    def _swap(
        self,
        i: int,
        bank: int,
        users: Any,
        countries: Any,
        mcc: Any,
        merchants: Any,
        amount: Any,
    ) -> None:
        """Slot ``i`` becomes an ordinary purchase of a random stay-at-home user."""
        rng = self._rng
        clock = self._clocks[bank]
        other = int(clock.victims[rng.randrange(len(clock.victims))])
        users[i] = other
        countries[i] = self._tables.home[other]
        offset = self._tables.m_off[other] + rng.randrange(self._tables.m_cnt[other])
        mcc[i], merchants[i] = self._tables.mcc[offset], self._tables.merchant[offset]
        amount[i] = round(
            min(
                MAX_LEGIT_AMOUNT,
                self._tables.typical[offset] * rng.lognormvariate(0, AMOUNT_SIGMA),
            ),
            2,
        )

    def _stays(self, state: _Traveller, user: User, t: float) -> bool:
        """Maybe set a traveller off on a flight; False while they fly."""
        rng = self._rng
        if state.country == user.home:
            if rng.random() >= DEPART_P:
                return True
            destination = rng.choice([c for c in COUNTRIES if c != user.home])
        else:
            if rng.random() >= RETURN_P:
                return True
            destination = user.home
        state.available_from = t + travel_hours(state.country, destination) * 3600.0
        state.country = destination
        return False


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def scaled_rates(banks: Sequence[Bank], total: float | None) -> dict[str, float]:
    """Per-bank rates keeping the configured proportions, summing to ``total``."""
    configured = sum(b.rate for b in banks)
    factor = 1.0 if total is None else total / configured
    return {b.bank_id: b.rate * factor for b in banks}


# Longest span of any fraud scenario (slow card testing: up to 52 minutes).
SCENARIO_SPAN_S = 3200.0


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
