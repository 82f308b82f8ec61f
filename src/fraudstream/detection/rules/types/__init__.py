"""The rule types, one module each; ``REGISTRY`` maps a catalogue's ``type``
to its parameter model and evaluation function."""

from __future__ import annotations

from typing import Any

from fraudstream.detection.rules.types import (
    amount_spike,
    blocklist,
    card_enumeration,
    card_number_check,
    card_testing,
    card_velocity,
    country_hopping,
    high_amount,
    impossible_travel,
    merchant_category_risk,
    risk_score,
    tumbling_window,
    user_velocity,
)
from fraudstream.detection.rules.types.base import Params, RuleType

REGISTRY: dict[str, RuleType[Any]] = {
    module.RULE_TYPE.name: module.RULE_TYPE
    for module in (
        high_amount,
        card_velocity,
        amount_spike,
        impossible_travel,
        card_testing,
        country_hopping,
        blocklist,
        card_number_check,
        tumbling_window,
        risk_score,
        user_velocity,
        merchant_category_risk,
        card_enumeration,
    )
}

__all__ = ["REGISTRY", "Params", "RuleType"]
