"""card_velocity: too many transactions on one card in a sliding window that
ends at the current transaction."""

from __future__ import annotations

from pydantic import Field

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    RuleRef,
    alert_select,
    duration,
    interval,
    json_ids,
    listagg_ids,
    ratio_score,
    window_input,
)
from fraudstream.detection.rules.types.base import Params, RuleType, Seconds


class CardVelocityParams(Params):
    window_seconds: Seconds = 60
    limit: int = Field(default=5, ge=1)
    """Fires when the count in the window, this transaction included, exceeds it."""


def sql(rule: RuleRef, params: CardVelocityParams, source_view: str, settings: Settings) -> str:
    del settings
    window = duration(params.window_seconds)
    reason = (
        "CONCAT(CAST(tx_count AS STRING), ' transactions in "
        + window
        + " on card ', card_masked, ', limit "
        + str(params.limit)
        + "')"
    )
    select = alert_select(
        rule,
        score=ratio_score("CAST(tx_count AS DOUBLE)", str(float(params.limit))),
        reason=reason,
        evidence=json_ids("window_ids"),
    )
    return f"""{select}
FROM (
  SELECT *, COUNT(*) OVER w AS tx_count, {listagg_ids()} OVER w AS window_ids
  FROM {window_input(source_view, params.window_seconds)}
  WINDOW w AS (PARTITION BY card_token ORDER BY event_time
               RANGE BETWEEN {interval(params.window_seconds)} PRECEDING AND CURRENT ROW)
)
WHERE tx_count > {params.limit}"""


RULE_TYPE = RuleType(
    name="card_velocity",
    params=CardVelocityParams,
    sql=sql,
    summary="more than `limit` transactions on a card within a sliding window",
)
