"""high_amount: a single transaction above an absolute limit in its currency."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    PositiveAmount,
    RuleType,
    ratio_score,
)

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class HighAmountParams(Params):
    threshold: PositiveAmount = 5000.0
    """Limit for currencies not listed in per_currency; fires when amount > limit."""
    per_currency: dict[CurrencyCode, PositiveAmount] = Field(default_factory=dict)


def evaluate(params: HighAmountParams, profile: Any, tx: Tx) -> Finding | None:
    del profile
    limit = params.per_currency.get(tx.currency, params.threshold)
    if tx.amount <= limit:
        return None
    return Finding(
        ratio_score(tx.amount, limit),
        f"amount {tx.amount:.2f} {tx.currency} on card {tx.card_masked} is above the limit "
        f"of {limit:.2f} {tx.currency}",
        (tx.transaction_id,),
    )


RULE_TYPE = RuleType(
    name="high_amount",
    params=HighAmountParams,
    evaluate=evaluate,
    episodic=False,
    summary="a single transaction above a per-currency limit",
)
