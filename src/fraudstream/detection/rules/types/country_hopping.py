"""country_hopping: too many distinct countries on one card in a sliding
window that ends at the current transaction (this one's country included)."""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.profile import CardProfile, Sizes
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    RuleType,
    Seconds,
    duration,
    ratio_score,
)


class CountryHoppingParams(Params):
    window_seconds: Seconds = 3600
    limit: int = Field(default=3, ge=1)
    """Fires when the distinct countries in the window exceed it."""


def evaluate(params: CountryHoppingParams, profile: CardProfile, tx: Tx) -> Finding | None:
    since = tx.event_ms - params.window_seconds * 1000
    countries = {c for c, ms in profile.countries.items() if ms > since}
    countries.add(tx.country)
    if len(countries) <= params.limit:
        return None
    return Finding(
        ratio_score(len(countries), params.limit),
        f"card {tx.card_masked} used in {len(countries)} countries "
        f"({', '.join(sorted(countries))}) within {duration(params.window_seconds)}, "
        f"limit {params.limit}",
        (*profile.ids_since(since, tx.event_ms), tx.transaction_id),
    )


RULE_TYPE = RuleType(
    name="country_hopping",
    params=CountryHoppingParams,
    evaluate=evaluate,
    sizes=lambda p: Sizes(country_window_s=p.window_seconds, window_s=p.window_seconds),
    cooldown=lambda p: p.window_seconds,
    summary="more distinct countries on a card within a window than a traveller could",
)
