"""tumbling_window: the legacy per-user rules over tumbling windows.

Kept only so the ``seed-baseline`` pack can reproduce the original rules for
side-by-side comparison: an alert comes when the window closes, a burst across
a window boundary is missed, and state is keyed by user, not by card. Each
alert is about the window's last transaction (by event time).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    TRANSACTION_COLUMNS,
    RuleRef,
    alert_select,
    duration,
    interval,
    json_ids,
    listagg_ids,
    ratio_score,
)
from fraudstream.detection.rules.types.base import Params, RuleType, Seconds


class TumblingWindowParams(Params):
    window_seconds: Seconds = 120
    measure: Literal["transactions", "countries"] = "transactions"
    limit: int = Field(default=5, ge=1)
    """Fires when the window's measure exceeds it."""


def sql(rule: RuleRef, params: TumblingWindowParams, source_view: str, settings: Settings) -> str:
    del settings
    value = "COUNT(*)" if params.measure == "transactions" else "COUNT(DISTINCT country)"
    noun = "transactions" if params.measure == "transactions" else "countries (', w_countries, ')"
    reason = (
        "CONCAT(CAST(w_value AS STRING), ' "
        + noun
        + " by user ', CAST(user_id AS STRING), ' in the "
        + duration(params.window_seconds)
        + " tumbling window from ', DATE_FORMAT(w_start, 'yyyy-MM-dd HH:mm:ss'), "
        + "', limit "
        + str(params.limit)
        + "')"
    )
    select = alert_select(
        rule,
        score=ratio_score("CAST(w_value AS DOUBLE)", str(float(params.limit))),
        reason=reason,
        evidence=json_ids("w_ids"),
    )
    last_columns = ", ".join(f"l.{c} AS {c}" for c in TRANSACTION_COLUMNS)
    windowed = (
        f"TABLE(TUMBLE(TABLE {source_view}, DESCRIPTOR(event_time), "
        f"{interval(params.window_seconds)}))"
    )
    return f"""{select}
FROM (
  SELECT {last_columns}, a.w_value, a.w_countries, a.w_ids, a.window_start AS w_start
  FROM (
    SELECT user_id, window_start, window_end, {value} AS w_value,
           LISTAGG(DISTINCT country, ',') AS w_countries, {listagg_ids()} AS w_ids
    FROM {windowed}
    GROUP BY user_id, window_start, window_end
  ) AS a
  JOIN (
    SELECT * FROM (
      SELECT *, ROW_NUMBER() OVER (
        PARTITION BY user_id, window_start, window_end ORDER BY event_time DESC) AS rn
      FROM {windowed}
    ) WHERE rn = 1
  ) AS l
  ON a.user_id = l.user_id AND a.window_start = l.window_start AND a.window_end = l.window_end
  WHERE a.w_value > {params.limit}
)"""


RULE_TYPE = RuleType(
    name="tumbling_window",
    params=TumblingWindowParams,
    sql=sql,
    summary="legacy: per-user count or distinct countries over a tumbling window",
)
