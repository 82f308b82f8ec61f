"""amount_spike: an amount far above the card's own recent history.

The history is the card's last ``history`` transactions before this one (a
ROWS window ending at the current row; the current row is taken back out of
the sums). Both conditions must hold, so a card that always spends big does
not fire, and a card with a very steady history does not fire on a small rise:

* amount > factor × mean
* amount > mean + stddevs × σ
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    RuleRef,
    alert_select,
    double,
    fmt,
    json_id_list,
    number,
    ratio_score,
    window_input,
)
from fraudstream.detection.rules.types.base import Params, RuleType


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


def sql(rule: RuleRef, params: AmountSpikeParams, source_view: str, settings: Settings) -> str:
    del settings
    reason = (
        "CONCAT('amount ', "
        + fmt("amount")
        + ", ' ', currency, ' on card ', card_masked, ' is ', "
        + fmt("amount / hist_mean", 1)
        + ", 'x its mean of ', "
        + fmt("hist_mean")
        + ", ' over its last ', CAST(CAST(hist_n AS BIGINT) AS STRING), ' transactions (mean + "
        + number(params.stddevs)
        + " sd = ', "
        + fmt("hist_mean + " + double(params.stddevs) + " * hist_sd")
        + ", '), limit "
        + number(params.factor)
        + "x')"
    )
    select = alert_select(
        rule,
        score=ratio_score("amount / hist_mean", double(params.factor)),
        reason=reason,
        evidence=json_id_list("transaction_id"),
    )
    return f"""{select}
FROM (
  SELECT *, SQRT(GREATEST(0.0, hist_sq / hist_n - hist_mean * hist_mean)) AS hist_sd
  FROM (
    SELECT *, (w_sum - amount) / hist_n AS hist_mean, w_sq - amount * amount AS hist_sq
    FROM (
      SELECT *, SUM(amount) OVER w AS w_sum, SUM(amount * amount) OVER w AS w_sq,
             CAST(COUNT(*) OVER w - 1 AS DOUBLE) AS hist_n
      FROM {window_input(source_view, params.history)}
      WINDOW w AS (PARTITION BY card_token ORDER BY event_time
                   ROWS BETWEEN {params.history} PRECEDING AND CURRENT ROW)
    )
    WHERE hist_n >= {params.min_history}
  )
)
WHERE amount >= {double(params.min_amount)}
  AND amount > {double(params.factor)} * hist_mean
  AND amount > hist_mean + {double(params.stddevs)} * hist_sd"""


RULE_TYPE = RuleType(
    name="amount_spike",
    params=AmountSpikeParams,
    sql=sql,
    summary="an amount far above the card's mean and spread over its last N transactions",
)
