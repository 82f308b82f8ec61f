"""risk_score: the model's fraud probability for the transaction above a threshold.

Features of the transaction against its card's profile and its user's
(amount against the card's history and against what the card, and the user
over all their cards, usually pays in the transaction's category, new
merchant / category / country for the card, new category for the user, time
since its last transaction, velocity over 1 min / 10 min / 1 h, tiny amounts in
the last hour, distance from the card's usual country, speed from the last
country, category risk; ``fraudstream.detection.model.features``) go through
a small tree ensemble (``model``: a JSON file, default the bundled one, see
docs/MODEL.md). Fires when the probability is at least ``threshold``; the
reason names the ``top`` features that raised it most, with their values.
Amounts below ``min_amount`` are not scored: a tiny card check is the
card-testing and card-enumeration rules' to group, and a score on each one
would raise one alert per card probed; the purchase that follows the probes
is scored, with the probes in its features.
"""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.profile import CardProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.model.features import SIZES, USER_SIZES, describe, features
from fraudstream.detection.model.scorer import ModelError, load_model
from fraudstream.detection.rules.types.base import Finding, Params, RuleType


class RiskScoreParams(Params):
    threshold: float = Field(default=0.5, gt=0, lt=1, allow_inf_nan=False)
    model: str | None = None
    """path of a model file; None: the bundled one"""
    top: int = Field(default=3, ge=1, le=10)
    min_amount: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """amounts below it are not scored (0: every transaction)"""

    def model_post_init(self, context: object, /) -> None:
        try:
            load_model(self.model)
        except ModelError as exc:
            raise ValueError(str(exc)) from None


def evaluate(params: RiskScoreParams, profile: CardProfile, tx: Tx) -> Finding | None:
    if tx.amount < params.min_amount:
        return None
    model = load_model(params.model)
    x = features(profile, tx, model.category_risk, model.category_scale)
    p = model.probability(x)
    if p < params.threshold:
        return None
    names = model.features
    top = [(f, c) for f, c in model.explain(x) if c > 0][: params.top]
    index = {name: i for i, name in enumerate(names)}
    parts = ", ".join(f"{describe(f, x[index[f]])} (+{c:.2f})" for f, c in top)
    return Finding(
        p,
        f"risk score {p:.2f} on card {tx.card_masked} (threshold {params.threshold:g}): "
        f"{parts or 'no single feature stands out'}",
        (tx.transaction_id,),
    )


RULE_TYPE = RuleType(
    name="risk_score",
    params=RiskScoreParams,
    evaluate=evaluate,
    sizes=lambda _p: SIZES,
    user_sizes=lambda _p: USER_SIZES,
    cooldown=lambda _p: 900,
    summary="a model's fraud probability from the card's and the user's profiles, with the "
    "features behind it",
)
