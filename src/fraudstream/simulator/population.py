"""A consistent card population: users, their cards, home country and habits.

Every user is derived from ``(seed, bank_id, user_id)`` alone, so the same
user has the same cards and habits in every process and every run with the
same seed, whichever slice of users a process drives.

Card numbers are network-correct and Luhn-valid: VISA 16 digits starting 4,
MasterCard 16 digits starting 51-55 or 2221-2720, AMEX 15 digits starting 34
or 37. The user id is part of the account number, so numbers never collide.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from fraudstream import geo
from fraudstream.records import PUBLISHED_SPELLING, luhn_check_digit


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    currency: str
    utc_offset: int  # hours, rough; drives the users' active hours


# The countries users live in, with a rough UTC offset each; currencies and
# coordinates come from the project's one country table (``fraudstream.geo``),
# the same the rules and the dashboard read.
_UTC_OFFSETS: Final[dict[str, int]] = {
    "US": -5,
    "CA": -5,
    "MX": -6,
    "BR": -3,
    "AR": -3,
    "GB": 0,
    "IE": 0,
    "FR": 1,
    "DE": 1,
    "NL": 1,
    "ES": 1,
    "IT": 1,
    "PL": 1,
    "CH": 1,
    "SE": 1,
    "TR": 3,
    "AE": 4,
    "IN": 5,
    "SG": 8,
    "JP": 9,
    "AU": 10,
    "ZA": 2,
    "NG": 1,
    "TH": 7,
}
COUNTRIES: Final[dict[str, Country]] = {
    code: Country(code, geo.countries()[code].currency, offset)
    for code, offset in _UTC_OFFSETS.items()
}


def distance_km(a: str, b: str) -> float:
    """Great-circle distance between two simulated countries' centroids."""
    distance = geo.distance_km(a, b)
    if distance is None:
        raise KeyError(f"no coordinates for {a} or {b}")
    return distance


# Airliner cruise speed plus airport time: the fastest honest way between two
# countries. Legitimate travellers never beat it; impossible travel always does.
TRAVEL_SPEED_KMH: Final = 800.0
TRAVEL_OVERHEAD_H: Final = 2.0


def travel_hours(a: str, b: str) -> float:
    return distance_km(a, b) / TRAVEL_SPEED_KMH + TRAVEL_OVERHEAD_H


@dataclass(frozen=True, slots=True)
class Category:
    mcc: str
    name: str
    merchants: tuple[str, ...]
    typical: float  # multiplier on the user's typical amount
    high_risk: bool = False


CATEGORIES: Final[dict[str, Category]] = {
    c.mcc: c
    for c in (
        Category(
            "5411", "grocery", ("FreshMart", "Green Basket", "Daily Foods", "Corner Market"), 1.0
        ),
        Category(
            "5812", "restaurant", ("Olive Table", "Blue Fork", "Noodle House", "Grill 21"), 0.8
        ),
        Category("5814", "fast food", ("Burger Stop", "Quick Bite", "Taco Corner"), 0.3),
        Category("5541", "fuel", ("FuelOne", "Highway Gas", "Petro Stop"), 1.0),
        Category("5311", "department store", ("City Department Store", "Grand Bazaar"), 1.5),
        Category("5912", "pharmacy", ("HealthPlus Pharmacy", "CarePoint"), 0.6),
        Category("4121", "taxi", ("CityCab", "RideNow"), 0.5),
        Category("5942", "books", ("Page Turner Books", "Bookworm"), 0.7),
        Category("5691", "clothing", ("Urban Wear", "Style Co", "Denim Works"), 1.6),
        Category("4899", "streaming", ("StreamFlix", "TuneBox"), 0.3),
        Category("7011", "hotel", ("Harbor Hotel", "Sunset Inn", "Central Suites"), 4.0),
        Category("4511", "airline", ("SkyWays", "AeroLink"), 8.0),
        Category("5732", "electronics", ("Volt Electronics", "GadgetHub", "TechPoint"), 3.0),
        Category("5944", "jewelry", ("Golden Ring Jewelers", "Sparkle & Co"), 6.0),
        Category("7995", "gambling", ("LuckyStar Casino", "BetNow Online"), 2.0, True),
        Category("6051", "crypto / quasi-cash", ("CoinVault Exchange", "CryptoGate"), 3.0, True),
        Category("4829", "wire transfer", ("QuickWire Transfers", "GlobalSend"), 3.0, True),
        Category("5967", "direct marketing", ("NightLine Services", "PremiumCall"), 1.0, True),
        Category("5818", "digital goods", ("PixelPlay Store", "AppNest", "GameKeys"), 0.5),
    )
}
EVERYDAY_MCCS: Final = (
    "5411",
    "5812",
    "5814",
    "5541",
    "5311",
    "5912",
    "4121",
    "5942",
    "5691",
    "4899",
)
TRAVEL_MCCS: Final = ("7011", "4511", "5812", "4121")
UNUSUAL_MCCS: Final = ("5732", "5944")  # account takeover cash-out
WEB_SHOP_MCC: Final = "5818"  # digital goods: card enumeration, flash sales
HIGH_RISK_MCCS: Final = tuple(c.mcc for c in CATEGORIES.values() if c.high_risk)


@lru_cache(maxsize=4096)
def json_str(text: str) -> str:
    """``text`` as a JSON string literal, computed once per merchant."""
    return json.dumps(text)


@dataclass(frozen=True, slots=True)
class Card:
    number: str
    payment_system: str


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    bank_id: str
    home: str
    currency: str  # cards are billed in the home currency, wherever used
    cards: tuple[Card, ...]
    typical_amount: float
    categories: tuple[str, ...]  # favourite MCCs, most used first
    merchants: tuple[tuple[str, str], ...]  # favourite (mcc, merchant) pairs
    active_from: int  # local hour
    active_to: int  # local hour, exclusive
    traveller: bool
    online_share: float
    shared: bool = False
    """a household shares the account: its cards are used by several people"""
    big_spender: bool = False
    """spends 300-900 a purchase and buys electronics and jewelry regularly"""


@lru_cache(maxsize=256)
def bank_iins(bank_id: str) -> dict[str, str]:
    """Stable six-digit issuer prefixes (IIN/BIN) per network for one bank."""
    h = int(hashlib.sha256(bank_id.encode()).hexdigest(), 16)
    mastercard = (
        f"{51 + h % 5}{(h >> 8) % 10000:04d}"
        if h % 2
        else f"{2221 + (h >> 20) % 500}{(h >> 32) % 100:02d}"
    )
    return {
        "VISA": f"4{(h >> 40) % 100000:05d}",
        "MASTERCARD": mastercard,
        "AMEX": f"3{4 if (h >> 60) % 2 else 7}{(h >> 64) % 10000:04d}",
    }


def card_number(iin: str, network: str, user_id: int, index: int, rng: random.Random) -> str:
    """IIN + account number (user id, card index, a random digit) + check digit."""
    if network == "AMEX":
        body = f"{iin}{user_id % 10**7:07d}{index}"
    else:
        body = f"{iin}{user_id % 10**7:07d}{index}{rng.randrange(10)}"
    return body + luhn_check_digit(body)


NETWORK_WEIGHTS: Final = {"VISA": 0.55, "MASTERCARD": 0.35, "AMEX": 0.10}


def make_user(
    seed: int,
    bank_id: str,
    user_id: int,
    home_weights: dict[str, float],
    network_weights: dict[str, float] | None = None,
    traveller_share: float = 0.05,
    shared_share: float = 0.0,
    big_spender_share: float = 0.0,
) -> User:
    rng = random.Random(f"{seed}:{bank_id}:{user_id}")
    homes = list(home_weights)
    home = rng.choices(homes, weights=[home_weights[h] for h in homes])[0]
    networks_w = network_weights or NETWORK_WEIGHTS
    names = list(networks_w)
    iins = bank_iins(bank_id)
    n_cards = rng.choices((1, 2, 3), weights=(0.6, 0.3, 0.1))[0]
    cards = []
    for index in range(n_cards):
        network = rng.choices(names, weights=[networks_w[n] for n in names])[0]
        number = card_number(iins[network], network, user_id, index, rng)
        # Written as the published format spells it (MasterCard, not MASTERCARD).
        cards.append(Card(number, PUBLISHED_SPELLING[network]))
    categories = rng.sample(EVERYDAY_MCCS, k=rng.randint(3, 6))
    # A few honest users gamble now and then: rules must not flag them all.
    if rng.random() < 0.02:
        categories.append("7995")
    merchants = tuple(
        (mcc, rng.choice(CATEGORIES[mcc].merchants)) for mcc in categories for _ in range(2)
    )
    start = rng.randint(6, 10)
    typical = round(rng.uniform(12.0, 180.0), 2)
    active_to = min(24, start + rng.randint(12, 16))
    traveller = rng.random() < traveller_share
    online_share = rng.uniform(0.05, 0.4)
    # Look-alike traits come from a generator of their own, so adding them
    # leaves every other trait of every user as it was.
    extra = random.Random(f"{seed}:{bank_id}:{user_id}:look-alike")
    shared = extra.random() < shared_share
    big = extra.random() < big_spender_share
    if shared and len(cards) == 1:
        network = extra.choices(names, weights=[networks_w[n] for n in names])[0]
        cards.append(
            Card(
                card_number(iins[network], network, user_id, 1, extra), PUBLISHED_SPELLING[network]
            )
        )
    if big:
        typical = round(extra.uniform(300.0, 900.0), 2)
        merchants += tuple((mcc, extra.choice(CATEGORIES[mcc].merchants)) for mcc in UNUSUAL_MCCS)
        categories.extend(UNUSUAL_MCCS)
    return User(
        user_id=user_id,
        bank_id=bank_id,
        home=home,
        currency=COUNTRIES[home].currency,
        cards=tuple(cards),
        typical_amount=typical,
        categories=tuple(categories),
        merchants=merchants,
        active_from=start,
        active_to=active_to,
        traveller=traveller,
        online_share=online_share,
        shared=shared,
        big_spender=big,
    )


def make_population(
    seed: int,
    bank_id: str,
    first_user: int,
    last_user: int,
    home_weights: dict[str, float],
    network_weights: dict[str, float] | None = None,
    traveller_share: float = 0.05,
    *,
    part: int = 0,
    parts: int = 1,
    shared_share: float = 0.0,
    big_spender_share: float = 0.0,
) -> list[User]:
    """The users ``first_user..last_user`` (inclusive) whose id % parts == part."""
    return [
        make_user(
            seed,
            bank_id,
            uid,
            home_weights,
            network_weights,
            traveller_share,
            shared_share,
            big_spender_share,
        )
        for uid in range(first_user, last_user + 1)
        if uid % parts == part
    ]
