"""tumbling_window: the legacy per-user rules over tumbling windows.

Kept only so the ``seed-baseline`` pack can reproduce the original rules for
side-by-side comparison: state is keyed by user, not by card, and windows are
fixed (aligned to the epoch), so a burst across a window boundary is missed.
Unlike the original, which alerted when the window closed, the alert comes on
the transaction that lifts the window's measure above the limit, once per
window.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fraudstream.detection.engine.profile import Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx, iso
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    RuleType,
    Seconds,
    duration,
    ratio_score,
)


class TumblingWindowParams(Params):
    window_seconds: Seconds = 120
    measure: Literal["transactions", "countries"] = "transactions"
    limit: int = Field(default=5, ge=1)
    """Fires when the window's measure exceeds it."""


def evaluate(params: TumblingWindowParams, profile: UserProfile, tx: Tx) -> Finding | None:
    width = params.window_seconds * 1000
    index = tx.event_ms // width
    window = profile.window(params.window_seconds, index)
    if params.measure == "transactions":
        value = window.count + 1
        crossed = value == params.limit + 1
        noun = "transactions"
    else:
        countries = window.countries | {tx.country}
        value = len(countries)
        crossed = value == params.limit + 1 and tx.country not in window.countries
        noun = f"countries ({', '.join(sorted(countries))})"
    if not crossed:
        return None
    return Finding(
        ratio_score(value, params.limit),
        f"{value} {noun} by user {tx.user_id} in the {duration(params.window_seconds)} "
        f"tumbling window from {iso(index * width)[:19].replace('T', ' ')}, "
        f"limit {params.limit}",
        (*window.ids, tx.transaction_id),
    )


RULE_TYPE = RuleType(
    name="tumbling_window",
    params=TumblingWindowParams,
    evaluate=evaluate,
    scope="user",
    episodic=False,
    sizes=lambda p: Sizes(window_s=p.window_seconds, tumbling_s=p.window_seconds),
    summary="legacy: per-user count or distinct countries over a tumbling window",
)
