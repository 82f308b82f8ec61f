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
    windowed = (
        f"TABLE(TUMBLE(TABLE {source_view}, DESCRIPTOR(event_time), "
        f"{interval(params.window_seconds)}))"
    )
    last = ",\n           ".join(
        f"{_of_last(c)} AS {c}" for c in TRANSACTION_COLUMNS if c not in ("user_id", "event_time")
    )
    # One window aggregation and nothing else: the window's last transaction
    # comes from MAX over values prefixed with a sort key, not from joining the
    # aggregate back to a per-window ranking. Inside the job (views registered
    # as Tables, reused optimisation blocks) that window join loses the window
    # properties of its ranking side and the planner fails with a
    # NullPointerException (RelWindowProperties of "rightWindowProperties").
    return f"""{select}
FROM (
  SELECT user_id, window_start AS w_start, {value} AS w_value,
         LISTAGG(DISTINCT country, ',') AS w_countries, {listagg_ids()} AS w_ids,
         {last},
         MAX(event_time) AS event_time
  FROM {windowed}
  GROUP BY user_id, window_start, window_end
  HAVING {value} > {params.limit}
)"""


# Orders a window's transactions by event time, then by id (a tie has no
# better order); fixed-width time text so string order is time order.
_LAST_KEY = (
    "CONCAT(DATE_FORMAT(CAST(event_time AS TIMESTAMP(3)), 'yyyy-MM-dd HH:mm:ss.SSS'), "
    "transaction_id)"
)


def _of_last(column: str) -> str:
    """The value of ``column`` in the window's last transaction (by ``_LAST_KEY``).

    MAX of key + CHR(1) + value picks the row with the greatest key: no key
    holds CHR(1) (ids are UUIDs), so a key that is a prefix of another still
    sorts first. The value is what follows the key and the separator.
    """
    if column == "transaction_id":
        return f"SUBSTRING(MAX({_LAST_KEY}), 24)"
    text = f"CAST({column} AS STRING)"
    picked = (
        f"SUBSTRING(MAX(CONCAT({_LAST_KEY}, CHR(1), {text})), CHAR_LENGTH(MAX({_LAST_KEY})) + 2)"
    )
    if column == "amount":
        return f"CAST({picked} AS DOUBLE)"
    return picked


RULE_TYPE = RuleType(
    name="tumbling_window",
    params=TumblingWindowParams,
    sql=sql,
    summary="legacy: per-user count or distinct countries over a tumbling window",
)
