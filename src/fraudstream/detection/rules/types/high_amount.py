"""high_amount: one transaction above an absolute limit, per currency."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    RuleRef,
    alert_select,
    double,
    fmt,
    json_id_list,
    quote,
    ratio_score,
)
from fraudstream.detection.rules.types.base import Params, PositiveAmount, RuleType

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class HighAmountParams(Params):
    threshold: PositiveAmount = 5000.0
    """Limit for currencies not listed in per_currency; fires when amount > limit."""
    per_currency: dict[CurrencyCode, PositiveAmount] = Field(default_factory=dict)


def sql(rule: RuleRef, params: HighAmountParams, source_view: str, settings: Settings) -> str:
    del settings
    if params.per_currency:
        branches = " ".join(
            f"WHEN {quote(code)} THEN {double(limit)}"
            for code, limit in sorted(params.per_currency.items())
        )
        limit = f"CASE currency {branches} ELSE {double(params.threshold)} END"
    else:
        limit = double(params.threshold)
    reason = (
        "CONCAT('amount ', "
        + fmt("amount")
        + ", ' ', currency, ' on card ', card_masked, ' is above the limit of ', "
        + fmt("amount_limit")
        + ", ' ', currency)"
    )
    select = alert_select(
        rule,
        score=ratio_score("amount", "amount_limit"),
        reason=reason,
        evidence=json_id_list("transaction_id"),
    )
    return f"""{select}
FROM (SELECT *, {limit} AS amount_limit FROM {source_view})
WHERE amount > amount_limit"""


RULE_TYPE = RuleType(
    name="high_amount",
    params=HighAmountParams,
    sql=sql,
    summary="a single transaction above a per-currency limit",
)
