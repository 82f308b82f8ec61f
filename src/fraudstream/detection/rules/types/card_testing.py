"""card_testing: a run of small amounts followed by a large one on one card.

Fraudsters check a stolen card with a few tiny purchases, then cash it out.
Fires on a transaction of at least ``large_min`` that directly follows (by
arrival on the card) at least ``min_small`` consecutive amounts of at most
``small_max``, all within ``within_seconds`` of it.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from fraudstream.detection.engine.profile import CardProfile, Sizes
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    PositiveAmount,
    RuleType,
    Seconds,
    number,
    ratio_score,
)


class CardTestingParams(Params):
    min_small: int = Field(default=3, ge=1, le=100)
    small_max: PositiveAmount = 5.0
    """A transaction is small when amount <= small_max."""
    large_min: PositiveAmount = 100.0
    """The closing transaction is large when amount >= large_min."""
    within_seconds: Seconds = 600

    @model_validator(mode="after")
    def _small_below_large(self) -> Self:
        if self.small_max >= self.large_min:
            raise ValueError(
                f"small_max ({self.small_max}) must be below large_min ({self.large_min})"
            )
        return self


def evaluate(params: CardTestingParams, profile: CardProfile, tx: Tx) -> Finding | None:
    if tx.amount < params.large_min or not profile.smalls:
        return None
    since = tx.event_ms - params.within_seconds * 1000
    run: list[tuple[int, str]] = []
    # The run of *this* rule's small amounts: the trailing entries at most
    # small_max (a larger one, still small for another rule, breaks it).
    for ms, tid, amount in reversed(profile.smalls):
        if amount > params.small_max:
            break
        if ms <= since:
            break
        run.append((ms, tid))
    if len(run) < params.min_small:
        return None
    run.reverse()
    first_ms = run[0][0]
    return Finding(
        ratio_score(len(run), params.min_small),
        f"{len(run)} small amounts (each at most {number(params.small_max)}) then "
        f"{tx.amount:.2f} {tx.currency} within {(tx.event_ms - first_ms) // 1000} s on card "
        f"{tx.card_masked}, limit {params.min_small} small then at least "
        f"{number(params.large_min)}",
        (*(tid for _, tid in run), tx.transaction_id),
    )


RULE_TYPE = RuleType(
    name="card_testing",
    params=CardTestingParams,
    evaluate=evaluate,
    # Twice the minimum run, so a longer run still names its first amounts.
    sizes=lambda p: Sizes(smalls=2 * p.min_small, small_max=p.small_max, window_s=p.within_seconds),
    cooldown=lambda p: p.within_seconds,
    summary="at least N small amounts then a large one on a card within T",
)
