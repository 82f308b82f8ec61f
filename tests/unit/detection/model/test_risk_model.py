"""The risk score: features, the JSON tree ensemble, the rule and its reason."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fraudstream.detection.engine.profile import CardProfile, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.model.features import (
    NAMES,
    SIZES,
    UNKNOWN,
    USER_SIZES,
    describe,
    features,
)
from fraudstream.detection.model.scorer import (
    FORMAT,
    Model,
    ModelError,
    Tree,
    load_model,
    parse_model,
)
from fraudstream.detection.rules import parse_catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.risk_score import RiskScoreParams, evaluate

from ..rules.conftest import Stream

F = {name: i for i, name in enumerate(NAMES)}


def _profile(stream: Stream, txs: list) -> CardProfile:  # type: ignore[type-arg]
    """A card profile and its user's (``profile.user``) after ``txs``."""
    profile = CardProfile()
    profile.user = UserProfile()
    for tx in txs:
        _add(profile, tx)
    return profile


def _add(profile: CardProfile, tx: Tx) -> None:
    profile.update(tx, SIZES)
    assert profile.user is not None
    profile.user.update(tx, (), USER_SIZES)


def test_first_transaction_is_neither_new_nor_known() -> None:
    s = Stream()
    x = features(CardProfile(), s.tx(0, 30.0), {})
    assert len(x) == len(NAMES)
    assert x[F["new_merchant"]] == x[F["new_category"]] == x[F["new_country"]] == UNKNOWN
    assert x[F["history"]] == 0 and x[F["amount_vs_mean"]] == 0


def test_features_read_the_card_history() -> None:
    s = Stream()
    history = [s.tx(i * 600, 20.0) for i in range(5)]
    profile = _profile(s, history)
    # 40 s after the last one, ten times the usual amount, elsewhere, far away
    tx = s.tx(4 * 600 + 40, 200.0, merchant="GadgetHub", country="JP")
    x = features(profile, tx, {})
    assert x[F["history"]] == 5
    assert math.exp(x[F["amount_vs_mean"]]) == pytest.approx(201 / 21)
    assert x[F["new_merchant"]] == x[F["new_country"]] == 1.0
    assert math.expm1(x[F["log_gap_s"]]) == pytest.approx(40)
    assert x[F["tx_1m"]] == 1 and x[F["tx_10m"]] == 1 and x[F["tx_1h"]] == 5
    assert math.expm1(x[F["log_km_from_home"]]) > 10_000
    assert math.expm1(x[F["log_kmh_from_last"]]) > 100_000  # US to JP in 40 s
    known = features(profile, s.tx(4 * 600 + 50, 20.0), {})
    assert known[F["new_merchant"]] == known[F["new_country"]] == 0.0


def test_amount_is_compared_with_the_cards_usual_in_its_category() -> None:
    s = Stream()
    # Groceries around 20, then a purchase at a category whose amounts run
    # e (2.72) times dearer: 2.72x the card's usual there reads ~1x.
    profile = _profile(s, [s.tx(i * 600, 20.0, category="5411") for i in range(4)])
    scale = {"5411": 0.0, "5732": 1.0}
    dear = math.exp(1.0) * 21.0 - 1.0
    x = features(profile, s.tx(3000, dear, category="5732"), {}, scale)
    assert x[F["amount_vs_usual"]] == pytest.approx(0.0, abs=1e-9)
    spike = features(profile, s.tx(3000, 20.0 * 21 - 1, category="5411"), {}, scale)
    assert math.exp(spike[F["amount_vs_usual"]]) == pytest.approx(20.0, rel=1e-3)
    # Without the model's scales it is the plain ratio of log amounts.
    plain = features(profile, s.tx(3000, dear, category="5732"), {})
    assert plain[F["amount_vs_usual"]] == pytest.approx(1.0)
    assert features(CardProfile(), s.tx(0, 500.0), {}, scale)[F["amount_vs_usual"]] == 0.0
    assert describe("amount_vs_usual", math.log(3.0)).startswith("amount 3.0x the card's usual")


def test_user_features_read_the_users_amounts_over_all_their_cards() -> None:
    s = Stream()
    scale = {"5411": 0.0, "5732": 1.0}
    profile = CardProfile()
    profile.user = UserProfile()
    # The user pays about 20 at groceries on card B; card A is new.
    for i in range(6):
        tx = s.tx(i * 600, 20.0, card="B", category="5411")
        profile.user.update(tx, (), USER_SIZES)
    spike = s.tx(4000, 20.0 * 21 - 1, card="A", category="5411")
    x = features(profile, spike, {}, scale)
    assert x[F["history"]] == 0  # nothing on the card itself
    assert x[F["user_history"]] == 6
    assert math.exp(x[F["amount_vs_user_usual"]]) == pytest.approx(20.0, rel=1e-3)
    assert x[F["new_category_for_user"]] == 0.0
    dear = math.exp(1.0) * 21.0 - 1.0  # electronics, as dear as groceries are cheap
    y = features(profile, s.tx(4000, dear, card="A", category="5732"), {}, scale)
    assert y[F["amount_vs_user_usual"]] == pytest.approx(0.0, abs=1e-9)
    assert y[F["new_category_for_user"]] == 1.0
    # No user profile (or no history): no comparison, and neither new nor known.
    alone = features(CardProfile(), spike, {}, scale)
    assert alone[F["user_history"]] == 0 and alone[F["amount_vs_user_usual"]] == 0.0
    assert alone[F["new_category_for_user"]] == UNKNOWN
    assert describe("amount_vs_user_usual", math.log(4.0)).startswith("amount 4.0x the user's")


def test_the_cards_median_level_ignores_one_earlier_large_amount() -> None:
    s = Stream()
    amounts = [20.0, 20.0, 20.0, 20.0, 2000.0]
    profile = _profile(s, [s.tx(i * 600, a, category="5411") for i, a in enumerate(amounts)])
    x = features(profile, s.tx(4000, 20.0 * 21 - 1, category="5411"), {}, {})
    # The mean of logs moves with the 2000; the median stays at the usual 20.
    assert math.exp(x[F["amount_vs_usual_median"]]) == pytest.approx(20.0, rel=1e-3)
    assert x[F["amount_vs_usual"]] < x[F["amount_vs_usual_median"]]


def test_category_scale_separates_categories_from_cards() -> None:
    from fraudstream.detection.model.train import category_scale

    s = Stream()
    txs = []
    # Two cards at 10 and 100 per purchase; the dear one alone buys jewelry,
    # at 4x its own groceries. The scale sees the category, not the card
    # (a little shrunk towards 0: 1,000 jewelry purchases).
    for i in range(2000):
        txs.append(s.tx(i, 10.0, card="A", category="5411"))
        txs.append(s.tx(i, 100.0, card="B", category="5411"))
        if i % 2:
            txs.append(s.tx(i, 400.0, card="B", category="5944"))
    scale = category_scale([(txs, [])])
    assert scale["5944"] - scale["5411"] == pytest.approx(math.log(401 / 101), abs=0.05)


def test_tiny_amounts_are_counted_for_an_hour() -> None:
    s = Stream()
    txs = [s.tx(i * 300, 1.5) for i in range(4)]
    profile = _profile(s, txs)
    x = features(profile, s.tx(1300, 800.0), {})
    assert x[F["tiny_1h"]] == 4 and x[F["tiny"]] == 0
    later = features(profile, s.tx(4000, 800.0), {})
    assert later[F["tiny_1h"]] == 2  # only those at 600 and 900 s are within the hour


def test_habits_stay_bounded() -> None:
    s = Stream()
    profile = CardProfile()
    for i in range(200):
        profile.update(s.tx(i * 60, 3.0, merchant=f"M{i}", country="US" if i % 2 else "CA"), SIZES)
    assert len(profile.merchants) == SIZES.habits
    assert len(profile.tinies) == SIZES.habits
    assert len(profile.homes) == 2
    restored = CardProfile.from_state(profile.to_state())
    assert restored.merchants == profile.merchants and restored.tinies == profile.tinies
    # A state written before the habits existed still loads.
    old = CardProfile.from_state(profile.to_state()[:11])
    assert old.seen == profile.seen and old.merchants == {}


def _tiny_model() -> Model:
    # amount > 100 -> +2, else -2; online -> +1 more
    t1 = Tree((0, -1, -1), (math.log1p(100), 0.0, 0.0), (1, -1, -1), (2, -1, -1), (0.0, -2.0, 2.0))
    online = F["online"]
    t2 = Tree((online, -1, -1), (0.5, 0.0, 0.0), (1, -1, -1), (2, -1, -1), (0.0, 0.0, 1.0))
    return Model(tuple(NAMES), {}, -1.0, (t1, t2))


def test_compiled_trees_score_like_the_arrays() -> None:
    model = _tiny_model()
    x = [0.0] * len(NAMES)
    x[0] = math.log1p(500)
    x[F["online"]] = 1.0
    assert model.probability(x) == pytest.approx(1 / (1 + math.exp(-(-1 + 2 + 1))))
    x[0] = math.log1p(50)
    assert model.probability(x) == pytest.approx(1 / (1 + math.exp(-(-1 - 2 + 1))))
    contrib = dict(model.explain(x))
    assert contrib["log_amount"] == pytest.approx(-2.0)
    assert contrib["online"] == pytest.approx(1.0)


def test_model_file_round_trip_and_rejections(tmp_path: Path) -> None:
    model = _tiny_model()
    data = model.to_dict()
    assert parse_model(json.loads(json.dumps(data))).trees == model.trees
    bad = [
        {**data, "format": "pickle"},
        {**data, "features": ["a", "b"]},
        {**data, "trees": [[[0], [1.0], [1], [2], [0.0]]]},  # child out of range
        {**data, "trees": [[["__import__('os')"], [1.0], [-1], [-1], [0.0]]]},
        {**data, "trees": [[[-1], [0.0], [-1], [-1], [float("nan")]]]},
        {**data, "base": "x"},
        {**data, "category_scale": {"5411": "x"}},
        {**data, "category_scale": [1.0]},
        {**data, "category_risk": {"5411": float("inf")}},
    ]
    for item in bad:
        with pytest.raises(ModelError):
            parse_model(item)
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read model"):
        load_model(str(path))


def test_bundled_model_is_small_and_loads() -> None:
    model = load_model(None)
    assert model.features == NAMES and len(model.trees) >= 10
    size = Path(__file__).parents[4] / "src/fraudstream/detection/model/risk_model.json"
    assert size.stat().st_size < 200_000
    assert json.loads(size.read_text())["format"] == FORMAT
    assert model.info.get("seeds")


def test_rule_fires_above_threshold_and_names_the_features() -> None:
    s = Stream()
    profile = _profile(s, [s.tx(i * 600, 20.0) for i in range(5)])
    # Card testing then a large purchase at a new merchant: high risk.
    for i in range(4):
        _add(profile, s.tx(3000 + i * 200, 1.2, merchant=f"Shop{i}"))
    tx = s.tx(3900, 1500.0, merchant="Golden Ring Jewelers")
    params = RiskScoreParams(threshold=0.2)
    finding = evaluate(params, profile, tx)
    assert finding is not None
    assert finding.score >= 0.2
    assert finding.reason.startswith("risk score ")
    assert "(+" in finding.reason  # contributions named with their values
    assert finding.evidence == (tx.transaction_id,)
    ordinary = evaluate(RiskScoreParams(threshold=0.9), _profile(s, []), s.tx(9999, 20.0))
    assert ordinary is None
    # Below min_amount nothing is scored, however risky.
    assert evaluate(RiskScoreParams(threshold=0.2, min_amount=2000), profile, tx) is None


def test_rule_params_are_checked() -> None:
    with pytest.raises(ValueError):
        parse_catalogue(
            {"rules": [{"id": "r", "type": "risk_score", "params": {"threshold": 1.5}}]}
        )
    with pytest.raises(ValueError, match="cannot read model"):
        parse_catalogue(
            {"rules": [{"id": "r", "type": "risk_score", "params": {"model": "/nonexistent.json"}}]}
        )
    assert REGISTRY["risk_score"].sizes(RiskScoreParams()) == SIZES


def test_describe_reads_like_a_person() -> None:
    assert describe("log_amount", math.log1p(250)) == "amount 250.00"
    assert describe("new_category", 1.0) == "category new for the card"
    assert describe("tx_10m", 3.0) == "3 transactions in the last 10m"
    assert "first use" in describe("new_country", UNKNOWN)


def test_training_exports_the_fitted_ensemble_exactly(tmp_path: Path) -> None:
    from fraudstream.detection.model.train import fit, save

    model, summary = fit([5], transactions=3000, per_scenario=2, trees=8, depth=3, leaves=6)
    # fit checks the exported trees against scikit-learn's own probabilities.
    assert len(model.trees) == 8 and model.features == NAMES
    assert summary["fraud_transactions"] > 0 and summary["leaves"] == 6
    path = tmp_path / "m.json"
    save(model, path)
    again = load_model(str(path))
    x = [0.0] * len(NAMES)
    x[F["amount_vs_user_usual"]] = 2.0
    assert again.probability(x) == pytest.approx(model.probability(x), abs=1e-6)
    # Along each tree the contributions add up to its leaf minus its root.
    raw = math.log(model.probability(x) / (1 - model.probability(x)))
    roots = sum(tree.value[0] for tree in model.trees)
    explained = sum(c for _, c in model.explain(x))
    assert explained == pytest.approx(raw - model.base - roots, abs=1e-6)
