"""What a rule type is: a parameter model and a pure evaluation function.

A rule type is written once, in Python: ``evaluate(params, profile, tx)``
looks at one transaction and the profile of its card (or user) *before* the
transaction is added to it, and returns a ``Finding`` or ``None``. The same
function runs inside the Flink job's keyed operator and in ``fraudstream
backtest``; it never does I/O and never mutates the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Generic, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fraudstream.detection.engine.profile import Sizes

__all__ = ["Finding", "Params", "PositiveAmount", "RuleType", "Scope", "Seconds", "Sizes"]

# Finite, strictly positive numbers: an infinite or NaN threshold is a typo.
PositiveAmount = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Seconds = Annotated[int, Field(ge=1, le=7 * 24 * 3600)]

Scope = Literal["card", "user", "merchant", "blocklist"]
"""What a rule reads: the card's profile (keyed by card token), the user's (by
user id), the merchant's (by merchant name), or the block list snapshot."""


class Params(BaseModel):
    """Base of every parameter model: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(NamedTuple):
    """What a rule found on one transaction: a score in 0..1, a sentence with
    the numbers in it, and the ids of the transactions that make the case."""

    score: float
    reason: str
    evidence: tuple[str, ...]
    anchor: str | None = None
    """The transaction id that names a new alert (None: the transaction that
    fired). A rule whose finding spans transactions from several Kafka
    partitions names it by one that does not depend on their interleaving,
    so a replay after a restart raises the same alert id."""


UNJUDGED: Final = Finding(0.0, "", ())
"""What a rule returns when it cannot judge a transaction (a country without
coordinates): no alert, counted in the engine's ``unjudged`` counter and the
job's ``unjudged`` metric."""

P = TypeVar("P", bound=Params)


def ratio_score(value: float, limit: float) -> float:
    """0.5 just over the limit, 0.75 at twice the limit, towards 1 beyond."""
    if value <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - 0.5 * limit / value))


def number(value: float) -> str:
    """A parameter as it should read in a reason: 5000.0 -> '5000', 2.5 -> '2.5'."""
    return f"{value:g}" if value < 1e15 else repr(value)


def duration(seconds: int) -> str:
    """A window length as a person would say it: 60 -> '60 s', 600 -> '10 min'."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


@dataclass(frozen=True)
class RuleType(Generic[P]):
    name: str
    params: type[P]
    evaluate: Callable[[P, Any, Any], Finding | None]
    """(params, profile, transaction) -> finding; the profile is the scope's."""
    scope: Scope = "card"
    episodic: bool = True
    """One alert per episode: hits while the rule stays true update that alert."""
    sizes: Callable[[P], Sizes] = field(default=lambda _params: Sizes())
    user_sizes: Callable[[P], Sizes] | None = None
    """What a card-scope rule reads of the card's user's profile (``profile.user``
    while it evaluates; None: nothing, and ``profile.user`` may be None)."""
    cooldown: Callable[[P], int] = field(default=lambda _params: 600)
    """Default seconds without a hit that end an episode."""
    summary: str = ""
    admits: Callable[[P, Any], bool] | None = None
    """(params, transaction) -> whether the rule reads or judges it at all; for a
    merchant-scope rule, the transactions that are not admitted by any of them
    never reach the merchant operator (None: every transaction)."""

    def parse(self, raw: dict[str, Any]) -> P:
        return self.params.model_validate(raw)
