"""card_number_check: a card number that no issuer would have issued.

A number that fails the Luhn check digit, whose prefix belongs to another
network than the record says, or a payment system nobody knows: such records
are archived with a data-quality flag (``records.quality_flags``), never
rejected, and this rule alerts on them. Generated numbers are how card
testing starts, and a bank whose producer sends them wants to know.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import Finding, Params, RuleType
from fraudstream.records import FLAG_LUHN, FLAG_NETWORK, FLAG_UNKNOWN_SYSTEM

Flag = Literal["luhn", "network_mismatch", "unknown_payment_system"]

_SAYS = {
    FLAG_LUHN: "fails the Luhn check digit",
    FLAG_NETWORK: "does not belong to {system} by its prefix",
    FLAG_UNKNOWN_SYSTEM: "is on an unknown payment system {system}",
}


class CardNumberCheckParams(Params):
    flags: tuple[Flag, ...] = Field(
        default=("luhn", "network_mismatch", "unknown_payment_system"), min_length=1
    )
    """Which data-quality flags raise an alert."""


def evaluate(params: CardNumberCheckParams, profile: Any, tx: Tx) -> Finding | None:
    del profile
    if not tx.flags:
        return None
    found = [f for f in tx.flags.split(",") if f in params.flags]
    if not found:
        return None
    parts = "; ".join(_SAYS[f].format(system=tx.payment_system) for f in found)
    return Finding(
        min(1.0, 0.5 + 0.25 * len(found)),
        f"card number {tx.card_masked} {parts}",
        (tx.transaction_id,),
    )


RULE_TYPE = RuleType(
    name="card_number_check",
    params=CardNumberCheckParams,
    evaluate=evaluate,
    episodic=False,
    summary="a card number with a bad check digit, a wrong network prefix or an unknown system",
)
