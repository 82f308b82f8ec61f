"""card_velocity: too many transactions on one card in a sliding window that
ends at the current transaction (event time, this transaction included)."""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.profile import CardProfile, Sizes
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    RuleType,
    Seconds,
    duration,
    ratio_score,
)


class CardVelocityParams(Params):
    window_seconds: Seconds = 60
    limit: int = Field(default=5, ge=1, le=1000)
    """Fires when the count in the window, this transaction included, exceeds it."""


def evaluate(params: CardVelocityParams, profile: CardProfile, tx: Tx) -> Finding | None:
    since = tx.event_ms - params.window_seconds * 1000
    count = profile.count_since(since, tx.event_ms) + 1
    if count <= params.limit:
        return None
    ids = (*profile.ids_since(since, tx.event_ms), tx.transaction_id)
    return Finding(
        ratio_score(count, params.limit),
        f"{count} transactions in {duration(params.window_seconds)} on card "
        f"{tx.card_masked}, limit {params.limit}",
        ids,
    )


RULE_TYPE = RuleType(
    name="card_velocity",
    params=CardVelocityParams,
    evaluate=evaluate,
    # The previous `limit` times tell whether an in-order transaction exceeds
    # the limit; twice that lets a late one still find the times before it.
    sizes=lambda p: Sizes(times=2 * p.limit, window_s=p.window_seconds),
    cooldown=lambda p: p.window_seconds,
    summary="more than `limit` transactions on a card within a sliding window",
)
