"""Each rule type's evaluate() on small hand-written streams: where it fires,
where it stops firing, and what its reason and evidence say."""

from __future__ import annotations

import math

import pytest

from fraudstream import geo
from fraudstream.detection.engine.profile import UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import load_catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.base import (
    UNJUDGED,
    Finding,
    duration,
    number,
    ratio_score,
)
from fraudstream.detection.rules.types.blocklist import BlocklistParams
from fraudstream.detection.rules.types.blocklist import evaluate as blocklist
from fraudstream.detection.rules.types.high_amount import HighAmountParams
from fraudstream.detection.rules.types.high_amount import evaluate as high_amount
from fraudstream.detection.rules.types.tumbling_window import TumblingWindowParams
from fraudstream.detection.rules.types.tumbling_window import evaluate as tumbling

from .conftest import MASKED, Stream, engine_of, evaluate_each, fired_on, one, run


def only(finding: Finding | None) -> Finding:
    assert finding is not None
    assert 0.0 <= finding.score <= 1.0
    return finding


def test_registry_names_every_type() -> None:
    assert set(REGISTRY) == {
        "user_velocity",
        "merchant_category_risk",
        "card_enumeration",
        "high_amount",
        "card_velocity",
        "amount_spike",
        "impossible_travel",
        "card_testing",
        "country_hopping",
        "blocklist",
        "card_number_check",
        "tumbling_window",
        "risk_score",
    }
    assert {name for name, t in REGISTRY.items() if t.scope == "user"} == {
        "tumbling_window",
        "user_velocity",
        "merchant_category_risk",
    }
    assert {name for name, t in REGISTRY.items() if t.scope == "merchant"} == {"card_enumeration"}
    assert {name for name, t in REGISTRY.items() if t.scope == "blocklist"} == {"blocklist"}
    # A single finding per transaction: nothing to gather into an episode.
    assert {name for name, t in REGISTRY.items() if not t.episodic} == {
        "high_amount",
        "blocklist",
        "card_number_check",
        "tumbling_window",
    }


@pytest.mark.parametrize(
    ("value", "limit", "score"),
    [(0, 5, 0.0), (-1, 5, 0.0), (5, 5, 0.5), (10, 5, 0.75), (1e9, 5, 1.0 - 2.5e-9)],
)
def test_ratio_score(value: float, limit: float, score: float) -> None:
    assert ratio_score(value, limit) == pytest.approx(score)
    assert 0.0 <= ratio_score(value, limit) <= 1.0


def test_numbers_and_durations_read_as_written() -> None:
    assert number(5000.0) == "5000"
    assert number(2.5) == "2.5"
    assert [duration(s) for s in (45, 60, 120, 600, 3600, 7200)] == [
        "45 s",
        "60 s",
        "2 min",
        "10 min",
        "1 h",
        "2 h",
    ]


# -- high_amount ---------------------------------------------------------------


def test_high_amount_fires_strictly_above_the_threshold() -> None:
    params = HighAmountParams(threshold=100)
    assert high_amount(params, None, one(amount=100.0)) is None
    tx = one(amount=100.01)
    finding = only(high_amount(params, None, tx))
    assert finding.reason == (
        f"amount 100.01 USD on card {MASKED} is above the limit of 100.00 USD"
    )
    assert finding.evidence == (tx.transaction_id,)
    assert 0.5 <= finding.score < 0.51
    assert only(high_amount(params, None, one(amount=200.0))).score == pytest.approx(0.75)


def test_high_amount_per_currency_limit() -> None:
    params = HighAmountParams(threshold=5000, per_currency={"JPY": 750_000})
    # Above the default threshold, below the yen's own limit.
    assert high_amount(params, None, one(amount=700_000, currency="JPY")) is None
    assert high_amount(params, None, one(amount=750_000, currency="JPY")) is None
    finding = only(high_amount(params, None, one(amount=750_001, currency="JPY")))
    assert "750001.00 JPY" in finding.reason
    assert "limit of 750000.00 JPY" in finding.reason
    # Other currencies keep the default threshold.
    assert high_amount(params, None, one(amount=5000, currency="EUR")) is None
    assert (
        "limit of 5000.00 EUR"
        in only(high_amount(params, None, one(amount=5000.5, currency="EUR"))).reason
    )


# -- card_velocity ---------------------------------------------------------------


def test_velocity_fires_above_the_limit() -> None:
    s = Stream()
    txs = [s.tx(at) for at in (0, 1, 2, 3, 4)]
    findings = evaluate_each("card_velocity", {"window_seconds": 60, "limit": 3}, txs)
    # 3 in the window is the limit; the 4th and 5th exceed it.
    assert fired_on(findings, txs) == ["A-4", "A-5"]
    fourth = only(findings[3])
    assert fourth.reason == f"4 transactions in 60 s on card {MASKED}, limit 3"
    assert fourth.evidence == ("A-1", "A-2", "A-3", "A-4")
    assert fourth.score == pytest.approx(ratio_score(4, 3))


@pytest.mark.parametrize(("last", "fires"), [(60.0, False), (59.999, True)])
def test_velocity_window_excludes_a_transaction_exactly_window_seconds_old(
    last: float, fires: bool
) -> None:
    # The window is (t - window, t]: the first transaction, exactly 60 s before
    # the third, has left it.
    s = Stream()
    txs = [s.tx(0), s.tx(30), s.tx(last)]
    findings = evaluate_each("card_velocity", {"window_seconds": 60, "limit": 2}, txs)
    assert (findings[2] is not None) is fires
    if fires:
        assert only(findings[2]).evidence == ("A-1", "A-2", "A-3")


def test_velocity_counts_every_transaction_with_the_same_timestamp() -> None:
    s = Stream()
    txs = [s.tx(10) for _ in range(4)]
    findings = evaluate_each("card_velocity", {"window_seconds": 60, "limit": 3}, txs)
    assert fired_on(findings, txs) == ["A-4"]
    assert only(findings[3]).evidence == ("A-1", "A-2", "A-3", "A-4")


def test_velocity_reason_names_long_windows_in_minutes_and_hours() -> None:
    s = Stream()
    txs = [s.tx(at) for at in (0, 100, 200)]
    ten_min = evaluate_each("card_velocity", {"window_seconds": 600, "limit": 2}, txs)[2]
    assert "3 transactions in 10 min" in only(ten_min).reason
    hour = evaluate_each("card_velocity", {"window_seconds": 3600, "limit": 2}, txs)[2]
    assert "3 transactions in 1 h" in only(hour).reason


def test_velocity_keeps_cards_apart() -> None:
    s = Stream()
    txs = [s.tx(0, card="A"), s.tx(1, card="B"), s.tx(2, card="A"), s.tx(3, card="B")]
    engine = engine_of([{"id": "v", "type": "card_velocity", "params": {"limit": 2}}])
    assert run(engine, txs) == []


# -- amount_spike ----------------------------------------------------------------

SPIKE = {"history": 5, "min_history": 3, "factor": 3, "stddevs": 2, "min_amount": 100}


def spike(amounts: list[float], last: float, params: dict[str, float] = SPIKE) -> Finding | None:
    s = Stream()
    txs = [s.tx(i * 10, a) for i, a in enumerate([*amounts, last])]
    return evaluate_each("amount_spike", params, txs)[-1]


def test_spike_needs_min_history() -> None:
    assert spike([20, 20], 10_000) is None
    finding = only(spike([20, 20, 20], 100))
    assert finding.reason == (
        f"amount 100.00 USD on card {MASKED} is 5.0x its mean of 20.00 over its last "
        "3 transactions (mean + 2 sd = 20.00), limit 3x"
    )
    assert finding.evidence == ("A-4",)
    assert finding.score == pytest.approx(ratio_score(5, 3))


def test_spike_factor_boundary() -> None:
    # mean 40, no spread: factor 3 puts the limit at exactly 120.
    assert spike([40, 40, 40], 120) is None
    assert spike([40, 40, 40], 120.01) is not None


def test_spike_stddevs_boundary() -> None:
    # mean 40, population sd 60: above 3x the mean (120) is not enough while
    # within mean + 2 sd (160).
    history = [10.0, 10.0, 10.0, 10.0, 160.0]
    assert math.isclose(sum(history) / 5, 40)
    assert spike(history, 150) is None
    assert spike(history, 160) is None
    finding = only(spike(history, 161))
    assert "(mean + 2 sd = 160.00)" in finding.reason
    # With stddevs 0 the factor alone decides.
    assert spike(history, 150, {**SPIKE, "stddevs": 0}) is not None


def test_spike_ignores_amounts_below_min_amount() -> None:
    assert spike([1, 1, 1], 99.99) is None
    assert spike([1, 1, 1], 100) is not None


def test_spike_reads_only_the_last_history_amounts() -> None:
    # The big amounts are older than the last 5, so the mean is 20.
    finding = only(spike([1000, 1000, 20, 20, 20, 20, 20], 150))
    assert "its mean of 20.00 over its last 5 transactions" in finding.reason


def test_bundled_spike_sees_a_small_card_twenty_times_over() -> None:
    # A card spending around 13: twenty times that is a flagrant spike; the
    # 5-20x ones are the risk score's, which knows each category's amounts.
    bundled = next(r for r in load_catalogue().rules if r.id == "amount-spike")
    params = dict(bundled.params)
    assert only(spike([8.0, 21.2, 10.6], 299.3, params)).evidence == ("A-4",)
    assert spike([8.0, 21.2, 10.6], 99.0, params) is None  # below min_amount
    assert spike([8.0, 21.2, 10.6], 199.3, params) is None  # 15.8x the mean of 13.27


# -- impossible_travel -------------------------------------------------------------

TRAVEL = {"max_speed_kmh": 900, "slack_km": 500}


def test_travel_fires_on_a_fast_hop() -> None:
    s = Stream()
    txs = [s.tx(0, country="US"), s.tx(600, country="FR")]
    findings = evaluate_each("impossible_travel", TRAVEL, txs)
    assert findings[0] is None
    finding = only(findings[1])
    distance = geo.distance_km("US", "FR")
    assert distance is not None
    speed = (distance - 500) * 3600 / 600
    assert finding.reason == (
        f"card {MASKED} used in US then in FR 10.0 min later: {distance:.0f} km between "
        f"country centres, 500 km of slack allowed, is {speed:.0f} km/h, limit 900 km/h"
    )
    assert finding.evidence == ("A-1", "A-2")


def test_travel_allows_enough_time_same_country_and_slack() -> None:
    s = Stream()
    # 12 h for US -> FR is well under 900 km/h.
    slow = [s.tx(0, country="US"), s.tx(12 * 3600, country="FR")]
    assert evaluate_each("impossible_travel", TRAVEL, slow) == [None, None]
    same = [s.tx(0, country="FR"), s.tx(1, country="FR")]
    assert evaluate_each("impossible_travel", TRAVEL, same) == [None, None]
    # FR -> DE (~816 km between centres) with 1000 km of slack: never judged too fast.
    near = [s.tx(0, country="FR"), s.tx(0, country="DE")]
    assert evaluate_each("impossible_travel", {"slack_km": 1000}, near) == [None, None]


@pytest.mark.parametrize(("first", "second"), [("US", "XX"), ("XX", "US"), ("XX", "ZZ")])
def test_travel_never_judges_an_unknown_country(first: str, second: str) -> None:
    """It says it could not judge (counted by the engine), and never alerts."""
    assert "XX" not in geo.countries() and "ZZ" not in geo.countries()
    s = Stream()
    txs = [s.tx(0, country=first), s.tx(1, country=second)]
    findings = evaluate_each("impossible_travel", TRAVEL, txs)
    assert findings[0] is None and findings[1] is UNJUDGED


def test_travel_compares_with_the_previous_transaction_by_arrival() -> None:
    # Three countries at the same instant: each is compared with the one that
    # arrived just before it, and no elapsed time counts as one second.
    s = Stream()
    txs = [s.tx(5, country="US"), s.tx(5, country="FR"), s.tx(5, country="JP")]
    findings = evaluate_each("impossible_travel", TRAVEL, txs)
    assert findings[0] is None
    assert only(findings[1]).evidence == ("A-1", "A-2")
    assert "used in US then in FR 0.0 min later" in only(findings[1]).reason
    assert only(findings[2]).evidence == ("A-2", "A-3")
    assert "used in FR then in JP" in only(findings[2]).reason


# -- card_testing ----------------------------------------------------------------


def fires_on(
    amounts: list[tuple[float, float]], params: dict[str, float] | None = None
) -> list[str]:
    s = Stream()
    txs = [s.tx(at, amount) for at, amount in amounts]
    return fired_on(evaluate_each("card_testing", params or {}, txs), txs)


def test_card_testing_fires_on_the_large_amount_after_enough_smalls() -> None:
    s = Stream()
    txs = [s.tx(0, 1), s.tx(10, 2), s.tx(20, 5), s.tx(30, 150)]
    findings = evaluate_each("card_testing", {}, txs)
    assert fired_on(findings, txs) == ["A-4"]
    finding = only(findings[3])
    assert finding.reason == (
        f"3 small amounts (each at most 5) then 150.00 USD within 30 s on card {MASKED}, "
        "limit 3 small then at least 100"
    )
    assert finding.evidence == ("A-1", "A-2", "A-3", "A-4")


def test_card_testing_boundaries() -> None:
    assert fires_on([(0, 1), (1, 1), (2, 150)]) == []  # two smalls only
    assert fires_on([(0, 1), (1, 1), (2, 1), (3, 99.99)]) == []  # not large
    assert fires_on([(0, 1), (1, 1), (2, 1), (3, 100)]) == ["A-4"]  # large_min is inclusive
    assert fires_on([(0, 1), (1, 1), (2, 5.01), (3, 150)]) == []  # 5.01 is not small


def test_card_testing_run_broken_by_a_mid_amount() -> None:
    assert fires_on([(0, 1), (1, 2), (2, 50), (3, 3), (4, 4), (5, 150)]) == []
    assert fires_on([(0, 1), (1, 2), (2, 3), (3, 50), (4, 150)]) == []
    # The large amount ends the run too: a second large one needs a new run.
    assert fires_on([(0, 1), (1, 1), (2, 1), (3, 150), (4, 150)]) == ["A-4"]


def test_card_testing_run_older_than_within_seconds() -> None:
    # Smalls at 0, 100, 200, 300 and the large at 650: the window (50, 650]
    # holds three of them, and the evidence names only those.
    s = Stream()
    txs = [s.tx(0, 1), s.tx(100, 1), s.tx(200, 1), s.tx(300, 1), s.tx(650, 150)]
    findings = evaluate_each("card_testing", {}, txs)
    assert only(findings[4]).evidence == ("A-2", "A-3", "A-4", "A-5")
    # 700 s after the first and 601 s after the third small: too late.
    assert fires_on([(0, 1), (50, 1), (99, 1), (700, 150)]) == []
    assert fires_on([(0, 1), (50, 1), (100, 1), (700, 150)]) == []
    assert fires_on([(0, 1), (50, 1), (101, 1), (700, 150)]) == []
    assert fires_on([(100, 1), (150, 1), (200, 1), (699, 150)]) == ["A-4"]


def test_card_testing_long_run_is_bounded_but_still_fires() -> None:
    s = Stream()
    txs = [*(s.tx(i, 1) for i in range(20)), s.tx(30, 150)]
    finding = only(evaluate_each("card_testing", {}, txs)[-1])
    # The profile keeps 2 x min_small smalls: the last six and the large one.
    assert finding.evidence == ("A-15", "A-16", "A-17", "A-18", "A-19", "A-20", "A-21")
    assert finding.reason.startswith("6 small amounts")


def test_card_testing_instances_with_different_small_max() -> None:
    # One engine, two instances: the profile keeps amounts up to the larger
    # small_max, and each instance reads only its own run.
    engine = engine_of(
        [
            {"id": "tiny", "type": "card_testing", "params": {"small_max": 5}},
            {"id": "small", "type": "card_testing", "params": {"small_max": 20}},
        ]
    )
    assert engine.sizes.small_max == 20
    s = Stream()
    mixed = [s.tx(0, 3), s.tx(1, 15), s.tx(2, 10), s.tx(3, 4), s.tx(4, 150)]
    assert [(a.rule_id, a.transaction_id) for a in run(engine, mixed)] == [("small", "A-5")]
    s = Stream()
    tiny = [s.tx(0, 3, card="B"), s.tx(1, 3, card="B"), s.tx(2, 3, card="B")]
    alerts = run(engine, [*tiny, s.tx(3, 150, card="B")])
    assert sorted(a.rule_id for a in alerts) == ["small", "tiny"]
    assert {a.evidence for a in alerts} == {("B-1", "B-2", "B-3", "B-4")}


# -- country_hopping -------------------------------------------------------------

HOPPING = {"window_seconds": 3600, "limit": 2}


def test_hopping_fires_above_the_limit_of_countries() -> None:
    s = Stream()
    txs = [s.tx(0, country="US"), s.tx(60, country="FR"), s.tx(120, country="DE")]
    findings = evaluate_each("country_hopping", HOPPING, txs)
    assert fired_on(findings, txs) == ["A-3"]
    finding = only(findings[2])
    assert finding.reason == (f"card {MASKED} used in 3 countries (DE, FR, US) within 1 h, limit 2")
    assert finding.evidence == ("A-1", "A-2", "A-3")
    assert finding.score == pytest.approx(ratio_score(3, 2))


def test_hopping_counts_distinct_countries_only() -> None:
    s = Stream()
    txs = [s.tx(at, country=c) for at, c in ((0, "US"), (1, "US"), (2, "FR"), (3, "FR"))]
    assert evaluate_each("country_hopping", HOPPING, txs) == [None] * 4


@pytest.mark.parametrize(("last", "fires"), [(3600.0, False), (3599.999, True)])
def test_hopping_window_boundary(last: float, fires: bool) -> None:
    s = Stream()
    txs = [s.tx(0, country="US"), s.tx(1800, country="FR"), s.tx(last, country="DE")]
    assert (evaluate_each("country_hopping", HOPPING, txs)[2] is not None) is fires


def test_hopping_fires_when_the_new_country_shares_its_timestamp() -> None:
    s = Stream()
    txs = [s.tx(7, country="US"), s.tx(7, country="FR"), s.tx(7, country="DE")]
    findings = evaluate_each("country_hopping", HOPPING, txs)
    assert fired_on(findings, txs) == ["A-3"]
    assert "3 countries (DE, FR, US)" in only(findings[2]).reason


# -- blocklist -------------------------------------------------------------------

ALL_KINDS = BlocklistParams()


def test_blocklist_matches_each_kind() -> None:
    tx = one(merchant="Bad Shop", country="KP")
    assert blocklist(ALL_KINDS, {}, tx) is None
    assert blocklist(ALL_KINDS, {("merchant", "Good Shop"): "x"}, tx) is None
    finding = only(blocklist(ALL_KINDS, {("merchant", "Bad Shop"): "chargebacks"}, tx))
    assert finding == Finding(
        1.0, "merchant Bad Shop is on the block list (chargebacks)", (tx.transaction_id,)
    )
    country = only(blocklist(ALL_KINDS, {("country", "KP"): "sanctions"}, tx))
    assert country.reason == "country KP is on the block list (sanctions)"
    # The card is listed by token and shown masked.
    card = only(blocklist(ALL_KINDS, {("card_token", tx.card_token): ""}, tx))
    assert card.reason == f"card {MASKED} is on the block list (no reason given)"
    assert tx.card_token not in card.reason


def test_blocklist_names_every_match_and_only_its_kinds() -> None:
    tx = one(merchant="Bad Shop", country="KP")
    entries = {("merchant", "Bad Shop"): "fraud ring", ("country", "KP"): "sanctions"}
    both = only(blocklist(ALL_KINDS, entries, tx))
    assert both.reason == (
        "merchant Bad Shop is on the block list (fraud ring); "
        "country KP is on the block list (sanctions)"
    )
    merchants_only = BlocklistParams(kinds=("merchant",))
    assert blocklist(merchants_only, {("country", "KP"): "sanctions"}, tx) is None
    # A value listed under another kind does not match.
    assert blocklist(ALL_KINDS, {("country", "Bad Shop"): "typo"}, tx) is None


def test_blocklist_through_the_engine_one_alert_per_transaction() -> None:
    engine = engine_of([{"id": "bl", "type": "blocklist", "severity": "critical"}])
    s = Stream()
    txs = [s.tx(0, merchant="Bad Shop"), s.tx(1, merchant="Bad Shop"), s.tx(2)]
    assert run(engine, txs) == []  # no snapshot yet
    assert run(engine, txs, blocklist={}) == []
    alerts = run(engine, txs, blocklist={("merchant", "Bad Shop"): "fraud ring"})
    assert [a.transaction_id for a in alerts] == ["A-1", "A-2"]
    assert len({a.alert_id for a in alerts}) == 2
    assert all(a.hits == 1 and a.severity == "critical" for a in alerts)


# -- tumbling_window (legacy, per user) --------------------------------------------


def windows(
    params: TumblingWindowParams, txs: list[Tx], profiles: dict[int, UserProfile] | None = None
) -> list[Finding | None]:
    profiles = {} if profiles is None else profiles
    findings = []
    for tx in txs:
        profile = profiles.setdefault(tx.user_id, UserProfile())
        findings.append(tumbling(params, profile, tx))
        profile.update(tx, (params.window_seconds,))
    return findings


def test_tumbling_transactions_fire_once_per_window_on_crossing() -> None:
    params = TumblingWindowParams(window_seconds=120, limit=2)
    s = Stream()
    txs = [s.tx(at) for at in (0, 10, 20, 30, 120, 121, 239)]
    findings = windows(params, txs)
    # Third of the first window crosses; the fourth does not fire again; the
    # window from 120 s crosses again on its third.
    assert fired_on(findings, txs) == ["A-3", "A-7"]
    first = only(findings[2])
    assert first.reason == (
        "3 transactions by user 1 in the 2 min tumbling window from 2025-12-16 10:00:00, limit 2"
    )
    assert first.evidence == ("A-1", "A-2", "A-3")
    assert "from 2025-12-16 10:02:00" in only(findings[6]).reason


def test_tumbling_is_per_user_and_misses_bursts_across_a_boundary() -> None:
    params = TumblingWindowParams(window_seconds=120, limit=2)
    s = Stream()
    # Two users, two transactions each, on different cards.
    interleaved = [s.tx(0, user=1), s.tx(1, card="B", user=2), s.tx(2, user=1), s.tx(3, user=2)]
    assert windows(params, interleaved) == [None] * 4
    # Four in four seconds, but split by the window edge at 120 s.
    s = Stream()
    across = [s.tx(at) for at in (118, 119, 120, 121)]
    assert windows(params, across) == [None] * 4


def test_tumbling_countries_measure() -> None:
    params = TumblingWindowParams(window_seconds=3600, measure="countries", limit=2)
    s = Stream()
    txs = [
        s.tx(0, country="US"),
        s.tx(1, country="US"),
        s.tx(2, country="FR"),
        s.tx(3, country="FR"),
        s.tx(4, country="DE"),
        s.tx(5, country="US"),
        s.tx(6, country="JP"),
    ]
    findings = windows(params, txs)
    assert fired_on(findings, txs) == ["A-5"]
    assert only(findings[4]).reason.startswith(
        "3 countries (DE, FR, US) by user 1 in the 1 h tumbling window"
    )


def test_tumbling_late_transaction_in_a_past_window_is_not_counted() -> None:
    params = TumblingWindowParams(window_seconds=120, limit=2)
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(130), s.tx(2), s.tx(3)]
    profiles: dict[int, UserProfile] = {}
    # belong to the closed first window: they neither fire nor
    # count in the current one.
    assert windows(params, txs, profiles) == [None] * 5
    assert profiles[1].window(120, txs[2].event_ms // 120_000).count == 1


# -- every rule of the bundled catalogue -------------------------------------------


def test_bundled_rules_scores_stay_in_range() -> None:
    # Every rule raises what it finds: none defers to another's alert.
    rules = load_catalogue(packs=["seed-baseline"]).enabled()
    engine = engine_of([{**r.model_dump(), "defer": False} for r in rules])
    s = Stream()
    txs = [s.tx(i, 1) for i in range(4)]
    txs += [s.tx(5 + i, 9000, country=c) for i, c in enumerate(("FR", "JP", "BR", "AU"))]
    txs += [s.tx(20 + i, 20) for i in range(70)]
    txs.append(s.tx(100, 4000))
    txs.append(s.tx(101, 10)._replace(flags="luhn"))
    # Three cards of user 2 in a burst; six neighbouring cards at one web shop;
    # gambling then crypto by user 3.
    txs += [
        s.tx(200 + i, 30, card="BCD"[i % 3], user=2, masked=f"411111******000{i % 3}")
        for i in range(9)
    ]
    txs += [
        s.tx(
            300 + i,
            2,
            card=f"E{i}",
            user=10 + i,
            merchant="Web Shop",
            masked=f"400000******{i:04d}",
        )._replace(channel="online")
        for i in range(7)
    ]
    txs += [s.tx(400, 200, card="F", user=3, category=c) for c in ("7995", "6051")]
    alerts = run(engine, txs, blocklist={("merchant", "Corner Shop"): "test"})
    assert {a.rule_type for a in alerts} == set(REGISTRY)
    assert all(0.0 <= a.score <= 1.0 and a.reason for a in alerts)
