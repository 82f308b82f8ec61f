"""country_hopping: too many distinct countries on one card in a sliding
window that ends at the current transaction.

COUNT(DISTINCT country) over a RANGE window runs per row in streaming mode.
The rule fires on the transaction that lifts the distinct count above the
limit, not on every later transaction while the count stays there (LAG of the
count over the card's previous transaction).
"""

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


class CountryHoppingParams(Params):
    window_seconds: Seconds = 3600
    limit: int = Field(default=3, ge=1)
    """Fires when the distinct countries in the window exceed it."""


def sql(rule: RuleRef, params: CountryHoppingParams, source_view: str, settings: Settings) -> str:
    del settings
    reason = (
        "CONCAT(CAST(country_count AS STRING), ' countries (', window_countries, ') in "
        + duration(params.window_seconds)
        + " on card ', card_masked, ', limit "
        + str(params.limit)
        + "')"
    )
    select = alert_select(
        rule,
        score=ratio_score("CAST(country_count AS DOUBLE)", str(float(params.limit))),
        reason=reason,
        evidence=json_ids("window_ids"),
    )
    return f"""{select}
FROM (
  SELECT *, LAG(country_count) OVER (PARTITION BY card_token ORDER BY event_time) AS prev_count
  FROM (
    SELECT *, COUNT(DISTINCT country) OVER w AS country_count,
           LISTAGG(DISTINCT country, ',') OVER w AS window_countries,
           {listagg_ids()} OVER w AS window_ids
    FROM {window_input(source_view, params.window_seconds)}
    WINDOW w AS (PARTITION BY card_token ORDER BY event_time
                 RANGE BETWEEN {interval(params.window_seconds)} PRECEDING AND CURRENT ROW)
  )
)
WHERE country_count > {params.limit} AND country_count > COALESCE(prev_count, 0)"""


RULE_TYPE = RuleType(
    name="country_hopping",
    params=CountryHoppingParams,
    sql=sql,
    summary="more than `limit` distinct countries on a card within a sliding window",
)
