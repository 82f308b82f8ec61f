"""impossible_travel: two consecutive transactions of a card in countries too
far apart for the time between them.

Distances are between country centroids (``fraudstream.geo``), computed in
the JVM: each row looks its country's coordinates up in a constant MAP
generated from the bundled table (before the LAG, so the lookup is compiled
once), then the haversine formula runs on the pair. A centroid can be
far from where a card is really used (a border town, a large country), so
``slack_km`` is taken off every distance before the speed test. A country not
in the table never fires this rule.
"""

from __future__ import annotations

from pydantic import Field

from fraudstream import geo
from fraudstream.config import Settings
from fraudstream.detection.rules.sql import (
    RuleRef,
    alert_select,
    double,
    fmt,
    json_id_list,
    number,
    ratio_score,
)
from fraudstream.detection.rules.types.base import Params, RuleType


class ImpossibleTravelParams(Params):
    max_speed_kmh: float = Field(default=900.0, gt=0, allow_inf_nan=False)
    slack_km: float = Field(default=500.0, ge=0, allow_inf_nan=False)


def sql(rule: RuleRef, params: ImpossibleTravelParams, source_view: str, settings: Settings) -> str:
    del settings
    distance = geo.sql_haversine_km("prev_lat", "prev_lon", "lat", "lon")
    max_speed = double(params.max_speed_kmh)
    reason = (
        "CONCAT('card ', card_masked, ' used in ', prev_country, ' then in ', country, ' ', "
        + fmt("elapsed_s / 60.0", 1)
        + ", ' min later: ', "
        + fmt("distance_km", 0)
        + ", ' km between country centres, "
        + number(params.slack_km)
        + " km of slack allowed, is ', "
        + fmt("speed_kmh", 0)
        + ", ' km/h, limit "
        + number(params.max_speed_kmh)
        + " km/h')"
    )
    select = alert_select(
        rule,
        score=ratio_score("speed_kmh", max_speed),
        reason=reason,
        evidence=json_id_list("prev_id", "transaction_id"),
    )
    return f"""{select}
FROM (
  SELECT *, GREATEST(0.0, distance_km - {double(params.slack_km)}) * 3600.0
            / CAST(GREATEST(elapsed_s, 1) AS DOUBLE) AS speed_kmh
  FROM (
    SELECT *, {distance} AS distance_km,
           TIMESTAMPDIFF(SECOND, prev_time, event_time) AS elapsed_s
    FROM (
      SELECT *, LAG(country) OVER w AS prev_country, LAG(event_time) OVER w AS prev_time,
             LAG(transaction_id) OVER w AS prev_id, LAG(lat) OVER w AS prev_lat,
             LAG(lon) OVER w AS prev_lon
      FROM (
        SELECT *, {geo.sql_coordinate("country", "lat")} AS lat,
               {geo.sql_coordinate("country", "lon")} AS lon
        FROM {source_view}
      )
      WINDOW w AS (PARTITION BY card_token ORDER BY event_time)
    )
    WHERE prev_country IS NOT NULL AND prev_country <> country
      AND lat IS NOT NULL AND prev_lat IS NOT NULL
  )
)
WHERE speed_kmh > {max_speed}"""


RULE_TYPE = RuleType(
    name="impossible_travel",
    params=ImpossibleTravelParams,
    sql=sql,
    summary="consecutive transactions of a card in countries too far apart for the time between",
)
