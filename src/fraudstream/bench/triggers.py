"""Short transaction sequences that make one rule type fire, for latency runs.

Each sequence uses a card of its own (outside the load's population) and ends
with the transaction the rule fires on, the *trigger*; the latency bench
times the trigger's alert of that rule type. Parameters come from the
catalogue, so the sequences fire whatever thresholds it sets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from fraudstream.detection.rules.catalogue import Catalogue, RuleInstance

BLOCKED_MERCHANT: Final = "Bench Blocked Merchant"
"""Merchant name the bench puts on the block list for the blocklist trigger."""


@dataclass(frozen=True)
class Step:
    amount: float
    country: str = "US"
    merchant: str = "Acme Grocery"
    trigger: bool = False


@dataclass(frozen=True)
class Sequence:
    rule_id: str
    rule_type: str
    steps: tuple[Step, ...]


def _steps(rule: RuleInstance) -> tuple[Step, ...] | None:
    p: Any = rule.typed_params()
    if rule.type == "high_amount":
        return (Step(p.threshold * 2 + 1, trigger=True),)
    if rule.type == "card_velocity":
        return (*(Step(20.0) for _ in range(p.limit)), Step(21.0, trigger=True))
    if rule.type == "amount_spike":
        base = max(10.0, p.min_amount / p.factor / 2)
        spike = max(p.min_amount, base * p.factor * 2)
        return (*(Step(base) for _ in range(p.min_history)), Step(spike, trigger=True))
    if rule.type == "impossible_travel":
        return (Step(30.0, country="US"), Step(31.0, country="JP", trigger=True))
    if rule.type == "card_testing":
        small = min(1.0, p.small_max)
        return (*(Step(small) for _ in range(p.min_small)), Step(p.large_min + 1, trigger=True))
    if rule.type == "country_hopping":
        countries = ("FR", "DE", "BE", "NL", "LU", "CH", "AT", "IT", "ES", "PT")
        hops = [Step(25.0, country=c) for c in countries[: p.limit + 1]]
        return (*hops[:-1], Step(26.0, country=hops[-1].country, trigger=True))
    if rule.type == "blocklist" and "merchant" in p.kinds:
        return (Step(15.0, merchant=BLOCKED_MERCHANT, trigger=True),)
    return None


def sequences(catalogue: Catalogue) -> list[Sequence]:
    """One sequence per enabled card-scope rule whose type has a trigger recipe."""
    found = []
    for rule in catalogue.enabled():
        steps = _steps(rule)
        if steps is not None:
            found.append(Sequence(rule.id, rule.type, steps))
    return found


def cycle(catalogue: Catalogue) -> Iterator[Sequence]:
    """The sequences round-robin, forever."""
    return itertools.cycle(sequences(catalogue))
