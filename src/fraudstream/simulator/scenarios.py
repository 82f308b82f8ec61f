"""Fraud scenarios and honest look-alikes: short sequences of transactions.

Each scenario returns its transactions as steps (seconds after the start,
amount, merchant category, merchant, country, channel, and which of its
users and cards pays) and the index of the trigger: the transaction from
which a reasonable rule can tell it is fraud. Most scenarios use one victim's
card; some spread over the victim's cards, or over several users (card
enumeration, a busy merchant). ``build`` turns the steps into rows and one
``Label`` per row; honest look-alikes (``LOOKALIKES``) get no label. The
catalogue with the exact ranges is in docs/SIMULATOR.md; tests check those
ranges.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from fraudstream.simulator.population import (
    CATEGORIES,
    COUNTRIES,
    EVERYDAY_MCCS,
    HIGH_RISK_MCCS,
    UNUSUAL_MCCS,
    WEB_SHOP_MCC,
    Card,
    User,
    distance_km,
    json_str,
    travel_hours,
)
from fraudstream.simulator.rows import Label, Row

# Thresholds the scenarios are built to cross; rules in the catalogue use
# similar ones (see docs/SIMULATOR.md).
TINY_AMOUNT: Final = 5.0
ABSOLUTE_LIMIT: Final = 5000.0
FAR_KM: Final = 3000.0
BURST_MIN: Final = 8
BURST_WINDOW_S: Final = 60.0
SPIKE_FACTOR_MAX: Final = 4.5  # stealth takeover: below the amount-spike factor
ENUMERATION_MAX: Final = 16  # cards tried in one card enumeration
SALE_MAX: Final = 25  # customers of one flash sale


@dataclass(frozen=True, slots=True)
class Step:
    offset: float  # seconds after the scenario's start
    amount: float
    mcc: str
    merchant: str
    country: str
    channel: str
    user: int = 0
    """which of the scenario's users pays (index into its users)"""
    card: int = -1
    """which of that user's cards (index); -1: the card drawn for the scenario"""


Plan = tuple[list[Step], int]  # steps and trigger index (-1: none, an honest look-alike)


def _merchant(rng: random.Random, mcc: str) -> str:
    return rng.choice(CATEGORIES[mcc].merchants)


def card_testing(rng: random.Random, user: User) -> Plan:
    """3-6 tiny amounts (< 5) at different merchants 5-20 s apart, then one
    large amount (800-2500) 10-30 s later; all within about two minutes."""
    n = rng.randint(3, 6)
    pool = [(mcc, m) for mcc in EVERYDAY_MCCS for m in CATEGORIES[mcc].merchants]
    picks = rng.sample(pool, n)
    steps: list[Step] = []
    t = 0.0
    for index, (mcc, merchant) in enumerate(picks):
        if index:
            t += rng.uniform(5.0, 20.0)
        steps.append(Step(t, round(rng.uniform(0.5, 4.99), 2), mcc, merchant, user.home, "online"))
    t += rng.uniform(10.0, 30.0)
    mcc = rng.choice(UNUSUAL_MCCS)
    steps.append(
        Step(t, round(rng.uniform(800.0, 2500.0), 2), mcc, _merchant(rng, mcc), user.home, "online")
    )
    return steps, len(steps) - 1


def impossible_travel(rng: random.Random, user: User) -> Plan:
    """A purchase at home, then 2-15 minutes later one in a country at least
    3000 km away (no flight is that fast)."""
    mcc, merchant = rng.choice(user.merchants)
    far = [c for c in COUNTRIES if distance_km(user.home, c) >= FAR_KM]
    country = rng.choice(far)
    first = Step(
        0.0, round(user.typical_amount * rng.uniform(0.5, 1.5), 2), mcc, merchant, user.home, "pos"
    )
    mcc2 = rng.choice(("5311", "5732", "5691"))
    second = Step(
        rng.uniform(120.0, 900.0),
        round(user.typical_amount * rng.uniform(1.0, 3.0), 2),
        mcc2,
        _merchant(rng, mcc2),
        country,
        "pos",
    )
    return [first, second], 1


def velocity_burst(rng: random.Random, user: User) -> Plan:
    """8-12 transactions on one card within 60 s (1.5-5 s apart); the eighth
    is the trigger."""
    n = rng.randint(BURST_MIN, 12)
    steps: list[Step] = []
    t = 0.0
    for _ in range(n):
        mcc = rng.choice(EVERYDAY_MCCS)
        steps.append(
            Step(
                t, round(rng.uniform(20.0, 150.0), 2), mcc, _merchant(rng, mcc), user.home, "online"
            )
        )
        t += rng.uniform(1.5, 5.0)
    return steps, BURST_MIN - 1


def amount_spike(rng: random.Random, user: User) -> Plan:
    """One purchase at 10-20 times the card's typical amount, below 5000."""
    amount = min(user.typical_amount * rng.uniform(10.0, 20.0), ABSOLUTE_LIMIT - 1)
    mcc = rng.choice(("5311", "5732", "5691"))
    # On the user's main card: a spike is a spike against the card's history.
    return [Step(0.0, round(amount, 2), mcc, _merchant(rng, mcc), user.home, "pos", card=0)], 0


def account_takeover(rng: random.Random, user: User) -> Plan:
    """Two online purchases 2-10 minutes apart in a country the user never
    used, at a category outside their habits (electronics, jewelry), for
    1000-4800 each; the first is the trigger."""
    country = rng.choice([c for c in COUNTRIES if c != user.home])
    steps: list[Step] = []
    t = 0.0
    for _ in range(2):
        mcc = rng.choice(UNUSUAL_MCCS)
        steps.append(
            Step(
                t,
                round(rng.uniform(1000.0, 4800.0), 2),
                mcc,
                _merchant(rng, mcc),
                country,
                "online",
            )
        )
        t += rng.uniform(120.0, 600.0)
    return steps, 0


def high_risk_merchant(rng: random.Random, user: User) -> Plan:
    """2-4 purchases at high-risk categories (gambling 7995, crypto 6051,
    wire transfer 4829, direct marketing 5967) 1-5 minutes apart."""
    n = rng.randint(2, 4)
    steps: list[Step] = []
    t = 0.0
    for _ in range(n):
        mcc = rng.choice(HIGH_RISK_MCCS)
        amount = min(user.typical_amount * rng.uniform(2.0, 8.0), ABSOLUTE_LIMIT - 1)
        steps.append(Step(t, round(amount, 2), mcc, _merchant(rng, mcc), user.home, "online"))
        t += rng.uniform(60.0, 300.0)
    return steps, 0


def multi_card_spree(rng: random.Random, users: Sequence[User]) -> Plan:
    """6-10 online purchases of 1.5-4x the typical amount at department
    stores, electronics, clothing or digital goods, 20-90 s apart, taking the
    user's cards in turn (each card sees at most every second one: no card
    alone is busy); the 4th is the trigger."""
    user = users[0]
    n = rng.randint(6, 10)
    first = rng.randrange(len(user.cards))
    steps: list[Step] = []
    t = 0.0
    for index in range(n):
        mcc = rng.choice(("5311", "5732", "5691", WEB_SHOP_MCC))
        amount = min(user.typical_amount * rng.uniform(1.5, 4.0), ABSOLUTE_LIMIT - 1)
        card = (first + index) % len(user.cards)
        steps.append(
            Step(t, round(amount, 2), mcc, _merchant(rng, mcc), user.home, "online", card=card)
        )
        t += rng.uniform(20.0, 90.0)
    return steps, 3


def card_enumeration(rng: random.Random, users: Sequence[User]) -> Plan:
    """10-16 cards with consecutive account numbers (consecutive users of one
    bank), one tiny online purchase (0.50-2.99) each at the same web shop
    (digital goods, MCC 5818), 3-15 s apart; the 5th is the trigger."""
    n = rng.randint(min(10, len(users)), min(ENUMERATION_MAX, len(users)))
    merchant = _merchant(rng, WEB_SHOP_MCC)
    steps: list[Step] = []
    t = 0.0
    for index in range(n):
        user = users[index]
        amount = round(rng.uniform(0.5, 2.99), 2)
        steps.append(
            Step(t, amount, WEB_SHOP_MCC, merchant, user.home, "online", user=index, card=0)
        )
        t += rng.uniform(3.0, 15.0)
    return steps, min(4, n - 1)


def stealth_takeover(rng: random.Random, users: Sequence[User]) -> Plan:
    """2-3 online purchases 5-30 minutes apart in the user's home country, at
    electronics, jewelry or digital goods (outside every ordinary user's
    habits), each 2.5-4.5x the typical amount: no amount, velocity, country or
    category limit of a single rule is crossed. The first is the trigger."""
    user = users[0]
    steps: list[Step] = []
    t = 0.0
    for _ in range(rng.randint(2, 3)):
        mcc = rng.choice((*UNUSUAL_MCCS, WEB_SHOP_MCC))
        amount = min(user.typical_amount * rng.uniform(2.5, SPIKE_FACTOR_MAX), ABSOLUTE_LIMIT - 1)
        steps.append(Step(t, round(amount, 2), mcc, _merchant(rng, mcc), user.home, "online"))
        t += rng.uniform(300.0, 1800.0)
    return steps, 0


def slow_card_testing(rng: random.Random, users: Sequence[User]) -> Plan:
    """4-7 tiny amounts (0.50-4.99) at different merchants, online, 2-7
    minutes apart (tens of minutes in all, past a short card-testing window),
    then one of 300-1500 at electronics or jewelry 2-10 minutes later; the
    large one (last) is the trigger."""
    user = users[0]
    n = rng.randint(4, 7)
    pool = [(mcc, m) for mcc in EVERYDAY_MCCS for m in CATEGORIES[mcc].merchants]
    steps: list[Step] = []
    t = 0.0
    for index, (mcc, merchant) in enumerate(rng.sample(pool, n)):
        if index:
            t += rng.uniform(120.0, 420.0)
        steps.append(Step(t, round(rng.uniform(0.5, 4.99), 2), mcc, merchant, user.home, "online"))
    t += rng.uniform(120.0, 600.0)
    mcc = rng.choice(UNUSUAL_MCCS)
    steps.append(
        Step(t, round(rng.uniform(300.0, 1500.0), 2), mcc, _merchant(rng, mcc), user.home, "online")
    )
    return steps, len(steps) - 1


# -- honest look-alikes (no label) -------------------------------------------


def _honest_amount(rng: random.Random, user: User, mcc: str) -> float:
    typical = CATEGORIES[mcc].typical * user.typical_amount
    return round(max(0.5, min(3000.0, typical * rng.lognormvariate(0.0, 0.45))), 2)


def shared_account(rng: random.Random, users: Sequence[User]) -> Plan:
    """A household sharing one account: 3-6 purchases at the user's own
    favourite merchants, ordinary amounts, 30-180 s apart, on the user's cards
    in turn (pos or online): busy across cards like a multi-card spree."""
    user = users[0]
    steps: list[Step] = []
    t = 0.0
    first = rng.randrange(len(user.cards))
    for index in range(rng.randint(3, 6)):
        mcc, merchant = rng.choice(user.merchants)
        channel = "online" if rng.random() < 0.5 else "pos"
        card = (first + index) % len(user.cards)
        steps.append(
            Step(t, _honest_amount(rng, user, mcc), mcc, merchant, user.home, channel, card=card)
        )
        t += rng.uniform(30.0, 180.0)
    return steps, -1


def flash_sale(rng: random.Random, users: Sequence[User]) -> Plan:
    """A busy web shop: 12-25 different customers buy at one digital-goods
    merchant within a few minutes (5-20 s apart), online, 5-80 each: many
    new cards at one merchant, like card enumeration but ordinary amounts."""
    n = rng.randint(min(12, len(users)), min(SALE_MAX, len(users)))
    merchant = _merchant(rng, WEB_SHOP_MCC)
    steps: list[Step] = []
    t = 0.0
    for index in range(n):
        amount = round(rng.uniform(5.0, 80.0), 2)
        steps.append(
            Step(t, amount, WEB_SHOP_MCC, merchant, users[index].home, "online", user=index)
        )
        t += rng.uniform(5.0, 20.0)
    return steps, -1


def weekend_trip(rng: random.Random, users: Sequence[User]) -> Plan:
    """A stay-at-home user's short trip: a purchase at home, then, after the
    flight to one of the three nearest countries plus 0-60 minutes (a
    plausible gap), 2-3 purchases 10-40 minutes apart at hotels, airlines,
    restaurants and taxis there, pos. The user pays nothing else meanwhile."""
    user = users[0]
    mcc, merchant = rng.choice(user.merchants)
    steps = [Step(0.0, _honest_amount(rng, user, mcc), mcc, merchant, user.home, "pos")]
    near = sorted((c for c in COUNTRIES if c != user.home), key=lambda c: distance_km(user.home, c))
    country = rng.choice(near[:3])
    t = travel_hours(user.home, country) * 3600.0 + rng.uniform(0.0, 3600.0)
    for _ in range(rng.randint(2, 3)):
        mcc = rng.choice(("7011", "4511", "5812", "4121"))
        steps.append(
            Step(t, _honest_amount(rng, user, mcc), mcc, _merchant(rng, mcc), country, "pos")
        )
        t += rng.uniform(600.0, 2400.0)
    return steps, -1


@dataclass(frozen=True)
class Spec:
    """A scenario: its plan, and which users it needs."""

    plan: Callable[[random.Random, Sequence[User]], Plan]
    users: int = 1
    """users it needs (the first is the victim; the others, see ``consecutive``)"""
    consecutive: bool = False
    """the users are consecutive ones of the bank (consecutive card numbers)"""
    min_cards: int = 1
    """the victim has at least this many cards"""
    shared: bool = False
    """the victim's account is shared (a household: ``User.shared``)"""
    away: bool = False
    """the victim pays nothing else until the scenario ends (a trip)"""


def _one(plan: Callable[[random.Random, User], Plan]) -> Spec:
    return Spec(lambda rng, users: plan(rng, users[0]))


SCENARIOS: Final[dict[str, Spec]] = {
    "card_testing": _one(card_testing),
    "impossible_travel": _one(impossible_travel),
    "velocity_burst": _one(velocity_burst),
    "amount_spike": _one(amount_spike),
    "account_takeover": _one(account_takeover),
    "high_risk_merchant": _one(high_risk_merchant),
    "multi_card_spree": Spec(multi_card_spree, min_cards=2),
    "card_enumeration": Spec(card_enumeration, users=ENUMERATION_MAX, consecutive=True),
    "stealth_takeover": Spec(stealth_takeover),
    "slow_card_testing": Spec(slow_card_testing),
}
"""Fraud: every transaction is labelled with the scenario's name."""

LOOKALIKES: Final[dict[str, Spec]] = {
    "shared_account": Spec(shared_account, min_cards=2, shared=True),
    "flash_sale": Spec(flash_sale, users=SALE_MAX),
    "weekend_trip": Spec(weekend_trip, away=True),
}
"""Honest traffic that resembles fraud: no label."""


def new_id(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (so a seed reproduces it)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def build(
    name: str, rng: random.Random, users: User | Sequence[User], card: Card, start: float
) -> list[tuple[Row, Label]]:
    """The rows of fraud scenario ``name`` from ``start``, each with its label.

    ``users`` is the victim (or the users the scenario needs, the victim
    first); ``card`` is the victim's card drawn for it.
    """
    return [(row, label) for row, label in _build(name, rng, users, card, start) if label]


def build_lookalike(
    name: str, rng: random.Random, users: User | Sequence[User], card: Card, start: float
) -> list[Row]:
    """The rows of honest look-alike ``name`` from ``start`` (no labels)."""
    return [row for row, _ in _build(name, rng, users, card, start)]


def _build(
    name: str, rng: random.Random, users: User | Sequence[User], card: Card, start: float
) -> list[tuple[Row, Label | None]]:
    group = (users,) if isinstance(users, User) else tuple(users)
    fraud = name in SCENARIOS
    spec = SCENARIOS[name] if fraud else LOOKALIKES[name]
    steps, trigger = spec.plan(rng, group)
    scenario_id = new_id(rng)
    ids = tuple(new_id(rng) for _ in steps)
    out: list[tuple[Row, Label | None]] = []
    for index, step in enumerate(steps):
        user = group[step.user]
        paid = (
            card
            if step.card < 0 and step.user == 0
            else user.cards[max(0, step.card) % len(user.cards)]
        )
        row: Row = (
            ids[index],
            user.bank_id,
            paid.payment_system,
            paid.number,
            user.user_id,
            step.amount,
            user.currency,
            json_str(step.merchant),
            step.country,
            start + step.offset,
            step.mcc,
            step.channel,
            "",
        )
        label = (
            Label(ids[index], scenario_id, name, index + 1, index == trigger, user.bank_id, ids)
            if fraud
            else None
        )
        out.append((row, label))
    return out
