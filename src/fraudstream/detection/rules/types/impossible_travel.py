"""impossible_travel: two consecutive transactions of a card in countries too
far apart for the time between them.

"Consecutive" is by arrival on the card. Distances are between country
centroids (``fraudstream.geo``); a centroid can be far from where a card is
really used (a border town, a large country), so ``slack_km`` is taken off
every distance before the speed test. A pair of countries with one not in
the table cannot be judged: the rule says so (``UNJUDGED``) and the job counts
it in its ``unjudged`` metric (``fraudstream job status``).
"""

from __future__ import annotations

from pydantic import Field

from fraudstream import geo
from fraudstream.detection.engine.profile import CardProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    UNJUDGED,
    Finding,
    Params,
    RuleType,
    number,
    ratio_score,
)


class ImpossibleTravelParams(Params):
    max_speed_kmh: float = Field(default=900.0, gt=0, allow_inf_nan=False)
    slack_km: float = Field(default=500.0, ge=0, allow_inf_nan=False)


def evaluate(params: ImpossibleTravelParams, profile: CardProfile, tx: Tx) -> Finding | None:
    previous = profile.last_country
    if not previous or previous == tx.country:
        return None
    distance = geo.distance_km(previous, tx.country)
    if distance is None:
        return UNJUDGED
    elapsed_s = abs(tx.event_ms - profile.last_ms) // 1000
    speed = max(0.0, distance - params.slack_km) * 3600.0 / max(elapsed_s, 1)
    if speed <= params.max_speed_kmh:
        return None
    return Finding(
        ratio_score(speed, params.max_speed_kmh),
        f"card {tx.card_masked} used in {previous} then in {tx.country} "
        f"{elapsed_s / 60:.1f} min later: {distance:.0f} km between country centres, "
        f"{number(params.slack_km)} km of slack allowed, is {speed:.0f} km/h, "
        f"limit {number(params.max_speed_kmh)} km/h",
        (profile.last_id, tx.transaction_id),
    )


RULE_TYPE = RuleType(
    name="impossible_travel",
    params=ImpossibleTravelParams,
    evaluate=evaluate,
    summary="consecutive transactions of a card in countries too far apart for the time between",
)
