"""merchant_category_risk: a purchase in a risky merchant category (gambling,
crypto, wire transfers, gift cards: money that is gone once sent) that looks
unlike the user.

A purchase in such a category alone is no reason to alert: some customers
gamble or buy crypto every week. The rule fires on one of at least
``min_amount`` when either

* **several risky categories**: the user used at least ``min_categories``
  distinct watched categories within ``window_seconds`` (this one included),
  the pattern of cashing out a stolen card; or
* **new and large**: the user has not used this category while the profile
  remembers them, has at least ``min_history`` earlier transactions, and the
  amount is at least ``factor`` times their mean.

User scope: the user's profile (keyed by user id) remembers when each watched
category was last used and the user's recent amounts over all their cards.
The transaction's ``merchant_category`` (the simulator sends the MCC) is
matched against the keys of ``categories``; a transaction without one never
fires.
"""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.profile import Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    PositiveAmount,
    RuleType,
    Seconds,
    duration,
    number,
)

DEFAULT_CATEGORIES = {
    "7995": "gambling",
    "6051": "crypto / quasi-cash",
    "4829": "wire transfer",
    "5947": "gift cards",
}


class MerchantCategoryRiskParams(Params):
    categories: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORIES), min_length=1
    )
    """Watched merchant categories: code (as the transaction carries it) -> name."""
    min_amount: PositiveAmount = 50.0
    """Smaller purchases never fire."""
    window_seconds: Seconds = 3600
    min_categories: int = Field(default=2, ge=1, le=20)
    """Distinct watched categories within the window that fire on their own."""
    factor: float = Field(default=3.0, gt=1, allow_inf_nan=False)
    """A new category fires when the amount is at least this multiple of the user's mean."""
    history: int = Field(default=20, ge=2, le=1000)
    """Earlier amounts of the user the mean is taken over."""
    min_history: int = Field(default=5, ge=1, le=1000)
    """A new category needs this many earlier amounts before it can fire."""


def evaluate(params: MerchantCategoryRiskParams, profile: UserProfile, tx: Tx) -> Finding | None:
    category = tx.merchant_category
    if category is None or category not in params.categories or tx.amount < params.min_amount:
        return None
    since = tx.event_ms - params.window_seconds * 1000
    recent = {c for c, seen in profile.risky.items() if since < seen <= tx.event_ms} | {category}
    name = params.categories[category]
    if len(recent) >= params.min_categories:
        names = ", ".join(sorted(params.categories.get(c, c) for c in recent))
        return Finding(
            min(1.0, 0.5 + 0.125 * len(recent)),
            f"{tx.amount:.2f} {tx.currency} at {tx.merchant} ({name}) by user {tx.user_id}: "
            f"{len(recent)} risky categories ({names}) within {duration(params.window_seconds)}, "
            f"limit {params.min_categories}",
            (tx.transaction_id,),
        )
    amounts = profile.amounts[-params.history :]
    if category in profile.risky or len(amounts) < params.min_history:
        return None
    mean = sum(amounts) / len(amounts)
    if tx.amount < params.factor * mean:
        return None
    ratio = tx.amount / mean
    return Finding(
        min(1.0, 0.5 + 0.05 * ratio),
        f"{tx.amount:.2f} {tx.currency} at {tx.merchant} ({name}), a category new for user "
        f"{tx.user_id}, is {ratio:.1f}x their mean of {mean:.2f} over {len(amounts)} "
        f"transactions, limit {number(params.factor)}x",
        (tx.transaction_id,),
    )


RULE_TYPE = RuleType(
    name="merchant_category_risk",
    params=MerchantCategoryRiskParams,
    evaluate=evaluate,
    scope="user",
    sizes=lambda p: Sizes(
        amounts=p.history, categories=tuple(sorted(p.categories)), window_s=p.window_seconds
    ),
    cooldown=lambda p: p.window_seconds,
    summary="a risky-category purchase in several such categories, or new and large for the user",
)
