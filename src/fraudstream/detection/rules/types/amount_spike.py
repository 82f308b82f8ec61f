"""amount_spike: an amount far above the card's own recent history.

Fires when the amount is at least ``min_amount``, more than ``factor`` times
the mean of the card's previous ``history`` amounts and more than ``stddevs``
standard deviations above it, once the card has ``min_history`` of them.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import Field, model_validator

from fraudstream.detection.engine.profile import CardProfile, Sizes
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    RuleType,
    number,
    ratio_score,
)


class AmountSpikeParams(Params):
    history: int = Field(default=20, ge=2, le=1000)
    min_history: int = Field(default=5, ge=1)
    factor: float = Field(default=5.0, gt=1, allow_inf_nan=False)
    stddevs: float = Field(default=3.0, ge=0, allow_inf_nan=False)
    min_amount: float = Field(default=100.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _history_covers_minimum(self) -> Self:
        if self.min_history > self.history:
            raise ValueError(
                f"min_history ({self.min_history}) cannot exceed history ({self.history})"
            )
        return self


def evaluate(params: AmountSpikeParams, profile: CardProfile, tx: Tx) -> Finding | None:
    amount = tx.amount
    if amount < params.min_amount:
        return None
    history = profile.amounts[-params.history :]
    n = len(history)
    if n < params.min_history:
        return None
    mean = sum(history) / n
    if amount <= params.factor * mean:
        return None
    sd = math.sqrt(max(0.0, sum(a * a for a in history) / n - mean * mean))
    if amount <= mean + params.stddevs * sd:
        return None
    return Finding(
        ratio_score(amount / mean, params.factor),
        f"amount {amount:.2f} {tx.currency} on card {tx.card_masked} is "
        f"{amount / mean:.1f}x its mean of {mean:.2f} over its last {n} transactions "
        f"(mean + {number(params.stddevs)} sd = {mean + params.stddevs * sd:.2f}), "
        f"limit {number(params.factor)}x",
        (tx.transaction_id,),
    )


RULE_TYPE = RuleType(
    name="amount_spike",
    params=AmountSpikeParams,
    evaluate=evaluate,
    sizes=lambda p: Sizes(amounts=p.history),
    summary="an amount far above the card's mean and spread over its last N transactions",
)
