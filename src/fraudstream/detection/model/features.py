"""Features of one transaction against its card's and its user's profiles, in pure Python.

The profiles are read *before* the transaction is added to them, as every
rule reads them; the user's is ``profile.user`` (None: the user features read
as for a user with no history). Each feature is a plain float; ``NAMES``
gives their order (the order of the model's inputs) and ``describe`` how a
reason reads one.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Mapping
from typing import Final

from fraudstream import geo
from fraudstream.detection.engine.profile import TINY, CardProfile, Sizes
from fraudstream.detection.engine.tx import Tx

NAMES: Final = (
    "log_amount",
    "amount_vs_mean",
    "amount_vs_max",
    "amount_z",
    "history",
    "new_merchant",
    "new_category",
    "new_country",
    "category_risk",
    "online",
    "log_gap_s",
    "tx_1m",
    "tx_10m",
    "tx_1h",
    "tiny_1h",
    "tiny",
    "log_km_from_home",
    "log_kmh_from_last",
    "merchants_10m",
    "amount_vs_usual",
    "amount_vs_usual_median",
    "amount_vs_user_usual",
    "user_history",
    "new_category_for_user",
)
HISTORY: Final = 20
"""Amounts the features look back over (the profile keeps at least these)."""
USER_HISTORY: Final = 30
"""Amounts of the user, over all their cards, the user features look back over."""
UNKNOWN: Final = 0.5
"""A card's first transaction: neither new nor known."""
NO_GAP_S: Final = 7 * 24 * 3600.0
"""Gap used for a card's first transaction."""

SIZES: Final = Sizes(times=120, amounts=HISTORY, habits=16, window_s=3600)
"""What the features need from the card profile."""
USER_SIZES: Final = Sizes(amounts=USER_HISTORY)
"""What the features need from the user profile."""


_NO_SCALES: Final[Mapping[str, float]] = {}


def features(
    profile: CardProfile,
    tx: Tx,
    category_risk: Mapping[str, float],
    category_scale: Mapping[str, float] = _NO_SCALES,
) -> list[float]:
    """The feature vector of ``tx`` (see ``NAMES``). ``category_scale``: the
    model's log amount of each category against the others (``usual``)."""
    amount = tx.amount
    ms = tx.event_ms
    amounts = profile.amounts[-HISTORY:]
    n = len(amounts)
    mcc = tx.merchant_category or ""
    if n:
        mean = sum(amounts) / n
        vs_mean = math.log((amount + 1.0) / (mean + 1.0))
        vs_max = math.log((amount + 1.0) / (max(amounts) + 1.0))
        sd = math.sqrt(max(0.0, sum(a * a for a in amounts) / n - mean * mean))
        z = max(-5.0, min(20.0, (amount - mean) / (sd + 0.25 * mean + 1.0)))
        vs_usual = usual(amount, mcc, amounts, profile.categories, category_scale)
    else:
        vs_mean = vs_max = z = vs_usual = 0.0
    if profile.seen:
        new_merchant = float(tx.merchant not in profile.merchants)
        new_category = float(mcc not in profile.categories)
        new_country = float(tx.country not in profile.homes)
    else:  # a card's first transaction: nothing is known, nothing is new
        new_merchant = new_category = new_country = UNKNOWN
    gap_s = (ms - profile.last_ms) / 1000.0 if profile.last_ms else NO_GAP_S
    times = profile.times
    end = bisect_right(times, ms)
    tx_1m = end - bisect_right(times, ms - 60_000)
    tx_10m = end - bisect_right(times, ms - 600_000)
    tx_1h = end - bisect_right(times, ms - 3_600_000)
    hour_ago = ms - 3_600_000
    tiny_1h = sum(1 for t in profile.tinies if hour_ago < t <= ms)
    km_home = 0.0
    if profile.homes:
        home = max(profile.homes, key=profile.homes.__getitem__)
        if home != tx.country:
            km_home = geo.distance_km(home, tx.country) or 0.0
    kmh = 0.0
    if profile.last_country and profile.last_country != tx.country:
        km = geo.distance_km(profile.last_country, tx.country) or 0.0
        kmh = km / max(abs(gap_s) / 3600.0, 1.0 / 60.0)
    ten_ago = ms - 600_000
    merchants_10m = sum(1 for t in profile.merchants.values() if t > ten_ago)
    # Each earlier amount against its own category's scale: the card's and
    # the user's levels (log amount a category-1.0 purchase of theirs costs).
    this = math.log1p(amount) - category_scale.get(mcc, 0.0)
    card_levels = _levels(profile.amounts, profile.amount_categories, HISTORY, category_scale)
    vs_usual_median = this - statistics.median(card_levels) if card_levels else 0.0
    vs_user, user_n, new_for_user = 0.0, 0, UNKNOWN
    user = profile.user
    if user is not None:
        levels = _levels(user.amounts, user.amount_categories, USER_HISTORY, category_scale)
        if levels:
            user_n = len(levels)
            vs_user = this - sum(levels) / user_n
            new_for_user = float(mcc not in user.amount_categories[-user_n:])
    return [
        math.log1p(amount),
        vs_mean,
        vs_max,
        z,
        float(min(n, HISTORY)),
        new_merchant,
        new_category,
        new_country,
        category_risk.get(mcc, 0.0),
        float(tx.channel == "online"),
        math.log1p(max(0.0, gap_s)),
        float(tx_1m),
        float(tx_10m),
        float(tx_1h),
        float(tiny_1h),
        float(amount <= TINY),
        math.log1p(km_home),
        math.log1p(kmh),
        float(merchants_10m),
        vs_usual,
        vs_usual_median,
        vs_user,
        float(user_n),
        new_for_user,
    ]


def _levels(
    amounts: list[float], categories: list[str], keep: int, scale: Mapping[str, float]
) -> list[float]:
    """log(1 + amount) minus its category's scale, for the latest ``keep``
    amounts whose category is known."""
    n = min(keep, len(amounts), len(categories))
    if not n:
        return []
    log1p = math.log1p
    get = scale.get
    return [log1p(a) - get(c, 0.0) for a, c in zip(amounts[-n:], categories[-n:])]  # noqa: B905


def usual(
    amount: float,
    mcc: str,
    amounts: list[float],
    categories: Mapping[str, int],
    scale: Mapping[str, float],
) -> float:
    """How far ``amount`` is above what the card usually pays *in this
    category*: log(1 + amount) minus the category's scale, minus the card's
    level (the mean log amount of its history minus the mean scale of the
    categories it used, weighted by use). A card that buys groceries and a
    spike at a department store compare through the scales, whatever mix of
    categories the card's few amounts came from; one large earlier amount
    moves a mean of logs far less than a mean of amounts."""
    level = sum(math.log1p(a) for a in amounts) / len(amounts)
    total = sum(categories.values())
    if total:
        level -= sum(scale.get(c, 0.0) * k for c, k in categories.items()) / total
    return math.log1p(amount) - scale.get(mcc, 0.0) - level


def describe(name: str, value: float) -> str:
    """How a reason names one feature and its value."""
    if name == "log_amount":
        return f"amount {math.expm1(value):.2f}"
    if name == "amount_vs_mean":
        return f"amount {math.exp(value):.1f}x the card's mean"
    if name == "amount_vs_max":
        return f"amount {math.exp(value):.1f}x the card's largest"
    if name == "amount_z":
        return f"amount {value:.1f} spreads above the card's mean"
    if name == "history":
        return f"{value:.0f} earlier amounts on the card"
    if name in ("new_merchant", "new_category", "new_country"):
        what = name.removeprefix("new_")
        state = "new" if value == 1 else "known" if value == 0 else "unknown (first use)"
        return f"{what} {state} for the card"
    if name == "category_risk":
        return f"category risk {value:+.1f}"
    if name == "online":
        return "online" if value else "in person"
    if name == "log_gap_s":
        return f"{_span(math.expm1(value))} since the card's last transaction"
    if name.startswith("tx_"):
        return f"{value:.0f} transactions in the last {name[3:]}"
    if name == "tiny_1h":
        return f"{value:.0f} tiny amounts in the last hour"
    if name == "tiny":
        return "tiny amount" if value else "not a tiny amount"
    if name == "log_km_from_home":
        return f"{math.expm1(value):.0f} km from the card's usual country"
    if name == "log_kmh_from_last":
        return f"{math.expm1(value):.0f} km/h from the last country"
    if name == "merchants_10m":
        return f"{value:.0f} merchants in the last 10 min"
    if name == "amount_vs_usual":
        return f"amount {math.exp(value):.1f}x the card's usual in its category"
    if name == "amount_vs_usual_median":
        return f"amount {math.exp(value):.1f}x the card's median, category for category"
    if name == "amount_vs_user_usual":
        return f"amount {math.exp(value):.1f}x the user's usual over all their cards"
    if name == "user_history":
        return f"{value:.0f} earlier amounts of the user"
    if name == "new_category_for_user":
        state = "new" if value == 1 else "known" if value == 0 else "unknown (no history)"
        return f"category {state} for the user"
    return f"{name} {value:g}"


def _span(seconds: float) -> str:
    if seconds >= NO_GAP_S - 1:
        return "no earlier transaction"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
