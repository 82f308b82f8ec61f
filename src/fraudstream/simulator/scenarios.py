"""Fraud scenarios: short sequences of transactions on one victim's card.

Each scenario returns its transactions as steps (seconds after the start,
amount, merchant category, merchant, country, channel) and the index of the
trigger: the transaction from which a reasonable rule can tell it is fraud.
``build`` turns the steps into rows and one ``Label`` per row. The catalogue
with the exact ranges is in docs/SIMULATOR.md; tests check those ranges.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fraudstream.simulator.population import (
    CATEGORIES,
    COUNTRIES,
    EVERYDAY_MCCS,
    HIGH_RISK_MCCS,
    UNUSUAL_MCCS,
    Card,
    User,
    distance_km,
    json_str,
)
from fraudstream.simulator.rows import Label, Row

# Thresholds the scenarios are built to cross; rules in the catalogue use
# similar ones (see docs/SIMULATOR.md).
TINY_AMOUNT: Final = 5.0
ABSOLUTE_LIMIT: Final = 5000.0
FAR_KM: Final = 3000.0
BURST_MIN: Final = 8
BURST_WINDOW_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    offset: float  # seconds after the scenario's start
    amount: float
    mcc: str
    merchant: str
    country: str
    channel: str


Plan = tuple[list[Step], int]  # steps and trigger index


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
    return [Step(0.0, round(amount, 2), mcc, _merchant(rng, mcc), user.home, "pos")], 0


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


SCENARIOS: Final[dict[str, Callable[[random.Random, User], Plan]]] = {
    "card_testing": card_testing,
    "impossible_travel": impossible_travel,
    "velocity_burst": velocity_burst,
    "amount_spike": amount_spike,
    "account_takeover": account_takeover,
    "high_risk_merchant": high_risk_merchant,
}


def new_id(rng: random.Random) -> str:
    """A version-4 UUID string drawn from ``rng`` (so a seed reproduces it)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def build(
    name: str, rng: random.Random, user: User, card: Card, start: float
) -> list[tuple[Row, Label]]:
    """The rows of one scenario on ``card`` from ``start``, each with its label."""
    steps, trigger = SCENARIOS[name](rng, user)
    scenario_id = new_id(rng)
    ids = tuple(new_id(rng) for _ in steps)
    out: list[tuple[Row, Label]] = []
    for index, step in enumerate(steps):
        row: Row = (
            ids[index],
            user.bank_id,
            card.payment_system,
            card.number,
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
        label = Label(ids[index], scenario_id, name, index + 1, index == trigger, user.bank_id, ids)
        out.append((row, label))
    return out
