"""user_velocity: too many transactions by one user, over all their cards, in a
sliding window that ends at the current transaction (event time, this one
included).

A thief holding several of a customer's cards (or the account behind them)
spreads purchases over the cards so no single card looks busy; the user's
total does. The original system's velocity rule counted per user too, over
tumbling windows (``tumbling_window``); this one slides, so a burst across a
window boundary is not missed.
"""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.profile import Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    RuleType,
    Seconds,
    duration,
    ratio_score,
)

MAX_EVIDENCE_IDS = 10


class UserVelocityParams(Params):
    window_seconds: Seconds = 120
    limit: int = Field(default=8, ge=1, le=500)
    """Fires when the user's count in the window, this transaction included, exceeds it."""
    min_cards: int = Field(default=1, ge=1, le=20)
    """Fires only when the window's transactions use at least this many distinct
    cards (2: leave single-card bursts to ``card_velocity``)."""


def evaluate(params: UserVelocityParams, profile: UserProfile, tx: Tx) -> Finding | None:
    since = tx.event_ms - params.window_seconds * 1000
    window = profile.since(since, tx.event_ms)
    count = len(window) + 1
    if count <= params.limit:
        return None
    cards = {card for _, _, card in window} | {tx.card_masked}
    if len(cards) < params.min_cards:
        return None
    ids = (*(tid for _, tid, _ in window[-MAX_EVIDENCE_IDS:]), tx.transaction_id)
    return Finding(
        ratio_score(count, params.limit),
        f"{count} transactions on {len(cards)} card{'s' if len(cards) > 1 else ''} of user "
        f"{tx.user_id} in {duration(params.window_seconds)}, limit {params.limit}",
        ids,
    )


RULE_TYPE = RuleType(
    name="user_velocity",
    params=UserVelocityParams,
    evaluate=evaluate,
    scope="user",
    # As card_velocity: the previous `limit` times decide an in-order record,
    # twice that lets a late one still find the times before it.
    sizes=lambda p: Sizes(times=2 * p.limit, window_s=p.window_seconds),
    cooldown=lambda p: p.window_seconds,
    summary="more than `limit` transactions of a user, over all their cards, in a sliding window",
)
