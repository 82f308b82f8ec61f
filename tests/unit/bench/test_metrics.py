from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudstream.bench.metrics import (
    AlertSeen,
    LatencySummary,
    Score,
    evaluate,
    f1,
    judge_step,
    percentile,
)
from fraudstream.records import FraudLabel as Label


def test_percentile_interpolates_like_numpy_linear() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_within_range(values: list[float]) -> None:
    p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
    assert min(values) <= p50 <= p95 <= p99 <= max(values)


def test_latency_summary_of_samples_and_of_nothing() -> None:
    summary = LatencySummary.of([10.0, 20.0, 30.0, 40.0, 1000.0])
    assert summary.count == 5
    assert summary.p50 == 30.0
    assert summary.max == 1000.0
    assert summary.mean == 220.0
    empty = LatencySummary.of([])
    assert empty.count == 0 and empty.p99 is None


def test_score_and_f1() -> None:
    score = Score.of(tp=8, fp=2, positives=10, detected=5)
    assert score.precision == pytest.approx(0.8)
    assert score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * 0.8 * 0.5 / 1.3)
    assert Score.of(tp=0, fp=0, positives=0, detected=0).precision is None
    assert f1(0.0, 0.0) == 0.0
    assert f1(None, 1.0) is None


def _labels() -> list[Label]:
    # Two card-testing attacks (3 transactions each, trigger last) and one travel attack.
    return [
        Label("a1", "A", "card_testing", 1),
        Label("a2", "A", "card_testing", 2),
        Label("a3", "A", "card_testing", 3, is_trigger=True),
        Label("b1", "B", "card_testing", 1),
        Label("b2", "B", "card_testing", 2),
        Label("b3", "B", "card_testing", 3, is_trigger=True),
        Label("c1", "C", "impossible_travel", 1),
        Label("c2", "C", "impossible_travel", 2, is_trigger=True),
    ]


def test_evaluate_counts_instances_alerts_and_times() -> None:
    sent = {
        "a1": 100.0,
        "a2": 101.0,
        "a3": 102.0,
        "b1": 200.0,
        "b2": 201.0,
        "b3": 202.0,
        "c1": 300.0,
        "c2": 310.0,
        "n1": 400.0,
        "n2": 401.0,
    }
    alerts = [
        AlertSeen("x1", "card-testing", "a3", 102.5),
        AlertSeen("x1", "card-testing", "a3", 103.0),  # duplicate delivery, same id
        AlertSeen("x2", "high-amount", "a3", 102.8),
        AlertSeen("x3", "travel", "c2", 311.0),
        AlertSeen("x4", "high-amount", "n1", 400.2),  # false positive
    ]
    result = evaluate(_labels(), alerts, sent, total_transactions=10)
    assert result.alerts == 4
    assert result.false_positive_alerts == 1
    assert result.overall.precision == pytest.approx(3 / 4)
    assert result.overall.recall == pytest.approx(2 / 3)
    card = result.per_scenario["card_testing"]
    assert (card.detected, card.positives) == (1, 2)
    assert card.precision == pytest.approx(2 / 3)  # 2 card-testing alerts vs 1 on legit
    assert result.missed_instances == {"card_testing": ["B"]}
    assert result.per_rule["high-amount"].precision == pytest.approx(0.5)
    assert result.per_rule["travel"].recall == pytest.approx(1 / 3)
    assert result.rule_by_scenario["card-testing"] == {"card_testing": 1, "impossible_travel": 0}
    # From the first transaction of A (100.0) to the first alert (102.5).
    assert result.time_to_detect_ms["card_testing"].p50 == pytest.approx(2500.0)
    # From trigger c2 (310.0) to the alert (311.0).
    assert result.trigger_to_alert_ms["impossible_travel"].max == pytest.approx(1000.0)
    as_json = result.to_dict()
    assert as_json["overall"]["recall"] == pytest.approx(0.6667)


def test_evaluate_with_no_alerts_scores_zero_recall_and_undefined_precision() -> None:
    result = evaluate(_labels(), [], {}, total_transactions=8)
    assert result.overall.recall == 0.0
    assert result.overall.precision is None
    assert result.per_rule == {}


def test_judge_step() -> None:
    ok = judge_step(
        offered_rate=1000,
        acked_rate=1000,
        backlog_max_seconds=4.0,
        drain_seconds=3.0,
        bound_seconds=10,
    )
    assert ok.sustained
    slow_producer = judge_step(
        offered_rate=1000, acked_rate=800, backlog_max_seconds=0, drain_seconds=0, bound_seconds=10
    )
    assert not slow_producer.sustained and "producer" in slow_producer.reason
    growing = judge_step(
        offered_rate=1000,
        acked_rate=1000,
        backlog_max_seconds=25,
        drain_seconds=3,
        bound_seconds=10,
    )
    assert not growing.sustained and "backlog" in growing.reason
    stuck = judge_step(
        offered_rate=1000,
        acked_rate=1000,
        backlog_max_seconds=5,
        drain_seconds=None,
        bound_seconds=10,
    )
    assert not stuck.sustained and "catch up" in stuck.reason


def test_attack_time_to_detect_runs_in_event_time() -> None:
    labels = _labels()[:3]
    event_at = {"a1": 1000.0, "a2": 1010.0, "a3": 1030.0}
    alerts = [AlertSeen("x", "card-testing", "a3", 5.0)]
    result = evaluate(labels, alerts, {}, total_transactions=3, event_at=event_at)
    assert result.attack_time_to_detect_ms["card_testing"].p50 == pytest.approx(30_000.0)


def test_an_alert_is_right_when_its_evidence_names_a_fraudulent_transaction() -> None:
    # An impossible-travel alert on the honest purchase at home (n1) whose
    # evidence is the attack's purchase abroad (c2): right, as the backtest
    # counts it; a false positive by the strict reading (own transaction only).
    alerts = [
        AlertSeen("x1", "impossible-travel", "n1", 5.0, evidence=("c2", "n1")),
        AlertSeen("x2", "high-amount", "n2", 6.0),  # wrong by both
    ]
    result = evaluate(_labels(), alerts, {}, total_transactions=10)
    assert result.false_positive_alerts == 1
    assert result.false_positive_alerts_strict == 2
    assert result.overall.precision == pytest.approx(0.5)
    as_json = result.to_dict()
    assert as_json["precision_strict"] == 0.0
    # Evidence alone does not detect an attack: recall counts reported transactions.
    assert result.overall.detected == 0


def test_cases_per_attack_count_an_attacks_alerts_by_case() -> None:
    # Two rules alert on attack A (a3) in one case; attack C's alert is its own case.
    alerts = [
        AlertSeen("x1", "card-testing", "a3", 1.0, case_id="x1"),
        AlertSeen("x2", "risk-score", "a3", 1.1, case_id="x1"),
        AlertSeen("x3", "travel", "c2", 2.0),
    ]
    result = evaluate(_labels(), alerts, {}, total_transactions=10)
    assert result.alerts_per_attack["card_testing"] == 2.0
    assert result.cases_per_attack["card_testing"] == 1.0
    assert result.cases_per_attack["impossible_travel"] == 1.0
    assert result.to_dict()["cases_per_attack"]["card_testing"] == 1.0
