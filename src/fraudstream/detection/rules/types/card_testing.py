"""card_testing: a run of small amounts followed by a large one on one card.

Fraudsters check a stolen card with a few tiny purchases, then cash it out.
MATCH_RECOGNIZE finds at least ``min_small`` consecutive small transactions
followed directly by a large one, the whole run within ``within_seconds``.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    RuleRef,
    alert_select,
    fmt,
    interval,
    json_escaped,
    json_ids,
    number,
    ratio_score,
)
from fraudstream.detection.rules.types.base import Params, PositiveAmount, RuleType, Seconds


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


def sql(rule: RuleRef, params: CardTestingParams, source_view: str, settings: Settings) -> str:
    del settings
    reason = (
        "CONCAT(CAST(small_count AS STRING), ' small amounts (each at most "
        + number(params.small_max)
        + ") then ', "
        + fmt("amount")
        + ", ' ', currency, ' within ', "
        + "CAST(TIMESTAMPDIFF(SECOND, first_small_time, event_time) AS STRING)"
        + ", ' s on card ', card_masked, ', limit "
        + str(params.min_small)
        + " small then at least "
        + number(params.large_min)
        + "')"
    )
    select = alert_select(
        rule,
        score=ratio_score("CAST(small_count AS DOUBLE)", str(float(params.min_small))),
        reason=reason,
        evidence=json_ids(f"small_ids, '\",\"', {json_escaped('transaction_id')}"),
    )
    measures = ",\n    ".join(
        f"L.{column} AS {column}"
        for column in (
            "transaction_id",
            "card_masked",
            "bank_id",
            "user_id",
            "amount",
            "currency",
            "merchant",
            "country",
            "payment_system",
            "event_time",
        )
    )
    return f"""{select}
FROM {source_view}
MATCH_RECOGNIZE (
  PARTITION BY card_token
  ORDER BY event_time
  MEASURES
    {measures},
    COUNT(S.transaction_id) AS small_count,
    FIRST(S.event_time) AS first_small_time,
    LISTAGG({json_escaped("S.transaction_id")}, '","') AS small_ids
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (S{{{params.min_small},}} L) WITHIN {interval(params.within_seconds)}
  DEFINE
    S AS S.amount <= {float(params.small_max)!r},
    L AS L.amount >= {float(params.large_min)!r}
)"""


RULE_TYPE = RuleType(
    name="card_testing",
    params=CardTestingParams,
    sql=sql,
    summary="at least N small amounts then a large one on a card within T",
)
