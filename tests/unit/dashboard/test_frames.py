from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from fraudstream.dashboard import frames
from fraudstream.dashboard.queries import AlertFilter
from fraudstream.detection.rules.catalogue import Catalogue, RuleInstance
from fraudstream.records import Alert

NOW = datetime(2025, 12, 16, 10, 30, tzinfo=UTC)


def alert(
    n: int,
    *,
    rule: str = "high-amount",
    bank: str = "BANK_A",
    severity: str = "high",
    user: int = 7,
    seconds_ago: int = 0,
    card: str = "t" * 64,
) -> Alert:
    when = NOW - timedelta(seconds=seconds_ago)
    return Alert(
        alert_id=f"a{n}",
        rule_id=rule,
        rule_type="x",
        severity=severity,
        score=0.5,
        reason=f"reason {n}",
        transaction_id=f"tx{n}",
        card_masked="411111******1111",
        card_token=card,
        bank_id=bank,
        user_id=user,
        amount=100.0 + n,
        currency="EUR",
        merchant="Shop",
        country="DE",
        payment_system="VISA",
        event_time=(when - timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        detected_at=when.isoformat().replace("+00:00", "Z"),
        evidence=("tx0",),
    )


def test_alerts_frame_parses_times_and_evidence() -> None:
    df = frames.alerts_frame([alert(1)])
    assert df["detected_at"].iloc[0] == pd.Timestamp(NOW)
    assert df["evidence"].iloc[0] == "tx0"
    assert df["amount"].dtype == float


def test_alerts_frame_empty_has_columns() -> None:
    df = frames.alerts_frame([])
    assert df.empty and "detected_at" in df.columns


def test_merge_dedups_and_sorts_newest_first() -> None:
    live = frames.alerts_frame([alert(1, seconds_ago=5), alert(2, seconds_ago=1)])
    history = frames.alerts_frame([alert(1, seconds_ago=5), alert(3, seconds_ago=60)])
    merged = frames.merge_alerts(live, history)
    assert list(merged["alert_id"]) == ["a2", "a1", "a3"]


def test_merge_of_nothing_is_empty() -> None:
    assert frames.merge_alerts(pd.DataFrame(), pd.DataFrame()).empty


def test_filter_by_rule_bank_severity_time_and_subject() -> None:
    df = frames.alerts_frame(
        [
            alert(1, rule="a", bank="B1", severity="low", seconds_ago=10),
            alert(2, rule="b", bank="B2", severity="high", seconds_ago=100, user=9),
            alert(3, rule="a", bank="B2", severity="critical", seconds_ago=1000, card="c" * 64),
        ]
    )
    ids = lambda f: list(frames.filter_alerts(df, f)["alert_id"])  # noqa: E731
    assert ids(AlertFilter()) == ["a1", "a2", "a3"]
    assert ids(AlertFilter(rules=("a",))) == ["a1", "a3"]
    assert ids(AlertFilter(banks=("B2",), severities=("critical",))) == ["a3"]
    assert ids(AlertFilter(since=NOW - timedelta(seconds=200))) == ["a1", "a2"]
    assert ids(AlertFilter(user_id=9)) == ["a2"]
    assert ids(AlertFilter(card_token="c" * 64)) == ["a3"]


def test_filter_sql_matches_frame_semantics() -> None:
    where, params = AlertFilter(rules=("a",), user_id=3).where()
    assert "rule_id = ANY(%(rules)s)" in where and "user_id = %(user_id)s" in where
    assert params == {"rules": ["a"], "user_id": 3}
    assert AlertFilter().where() == ("TRUE", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A" * 64, AlertFilter(card_token="a" * 64)),
        ("411111******1111", AlertFilter(card_masked="411111******1111")),
        (" 4242 ", AlertFilter(user_id=4242)),
    ],
)
def test_parse_subject(text: str, expected: AlertFilter) -> None:
    assert frames.parse_subject(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "0", "4111-1111", "-5"])
def test_parse_subject_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="card token"):
        frames.parse_subject(text)


def test_feed_table_formats_for_display() -> None:
    table = frames.feed_table(frames.alerts_frame([alert(1, severity="critical")]))
    row = table.iloc[0]
    assert row["severity"] == "critical"
    assert frames.severity_style("critical").startswith("background-color")
    assert frames.severity_style("unknown") == ""
    assert row["amount"] == "101.00 EUR"
    assert row["time"] == "2025-12-16 10:30:00"
    assert row["card"] == "411111******1111"


def test_format_helpers() -> None:
    assert frames.format_amount(1234.5) == "1,234.50"
    assert frames.format_seconds(0.25) == "250 ms"
    assert frames.format_seconds(1.5) == "1.50 s"
    assert frames.format_seconds(None) == "–"
    assert frames.format_seconds(float("nan")) == "–"


def test_bank_metrics_rates() -> None:
    summary = pd.DataFrame(
        [
            {
                "bank_id": None,
                "transactions": 120,
                "alerted_transactions": 6,
                "amount_at_risk": 50,
                "alerts": 8,
                "latency_p50": 0.2,
                "latency_p99": 1.0,
            },
            {
                "bank_id": "B",
                "transactions": 60,
                "alerted_transactions": 0,
                "amount_at_risk": 0,
                "alerts": 0,
                "latency_p50": None,
                "latency_p99": None,
            },
            {
                "bank_id": "A",
                "transactions": 60,
                "alerted_transactions": 6,
                "amount_at_risk": 50,
                "alerts": 8,
                "latency_p50": 0.2,
                "latency_p99": 1.0,
            },
        ]
    )
    out = frames.bank_metrics(summary, 60).set_index("bank")
    assert list(out.index) == ["All banks", "A", "B"]
    assert out.loc["All banks", "transactions_per_second"] == 2.0
    assert out.loc["A", "alerts_per_minute"] == 8.0
    assert out.loc["A", "fraud_rate"] == pytest.approx(0.1)
    assert out.loc["B", "fraud_rate"] == 0.0


def test_bank_metrics_without_data() -> None:
    out = frames.bank_metrics(pd.DataFrame(), 60)
    assert list(out["bank"]) == ["All banks"] and out["transactions"].iloc[0] == 0


def test_zero_transactions_do_not_divide_by_zero() -> None:
    summary = pd.DataFrame(
        [
            {
                "bank_id": "A",
                "transactions": 0,
                "alerted_transactions": 0,
                "amount_at_risk": 0,
                "alerts": 3,
                "latency_p50": 1.0,
                "latency_p99": 1.0,
            }
        ]
    )
    assert frames.bank_metrics(summary, 60)["fraud_rate"].iloc[0] == 0.0


def test_pivot_series_scales_per_bank() -> None:
    t0 = pd.Timestamp(NOW)
    df = pd.DataFrame(
        {
            "bucket": [t0, t0, t0 + pd.Timedelta(seconds=10)],
            "bank_id": ["A", "B", "A"],
            "transactions": [10, 20, 30],
        }
    )
    wide = frames.pivot_series(df, "transactions", 1 / 10)
    assert list(wide.columns) == ["A", "B"]
    assert wide["A"].tolist() == [1.0, 3.0]
    assert wide["B"].iloc[0] == 2.0 and pd.isna(wide["B"].iloc[1])
    assert frames.pivot_series(pd.DataFrame(), "x").empty


def test_pivot_series_fills_quiet_buckets_with_zero() -> None:
    t0 = pd.Timestamp(NOW)
    df = pd.DataFrame(
        {"bucket": [t0, t0 + pd.Timedelta(seconds=30)], "bank_id": ["A", "A"], "alerts": [2, 4]}
    )
    wide = frames.pivot_series(df, "alerts", bucket=10)
    assert wide["A"].tolist() == [2.0, 0.0, 0.0, 4.0]


@pytest.mark.parametrize(("window", "bucket"), [(300, 5), (900, 15), (3600, 60), (60, 1)])
def test_bucket_seconds(window: int, bucket: int) -> None:
    assert frames.bucket_seconds(window) == bucket


def test_precision() -> None:
    assert frames.precision(3, 1) == 0.75
    assert frames.precision(0, 0) is None


def test_rules_table_joins_catalogue_and_stats() -> None:
    catalogue = Catalogue.model_construct(
        rules=(
            RuleInstance.model_construct(id="r1", type="high_amount", params={"threshold": 5}),
            RuleInstance.model_construct(id="r2", type="velocity", enabled=False),
        )
    )
    stats = pd.DataFrame(
        [
            {
                "rule_id": "r1",
                "hits_total": 10,
                "hits_window": 4,
                "last_hit": NOW,
                "confirmed": 3,
                "false_positives": 1,
                "labelled_fraud": 5,
            },
            {
                "rule_id": "gone",
                "hits_total": 2,
                "hits_window": 0,
                "last_hit": NOW,
                "confirmed": 0,
                "false_positives": 0,
                "labelled_fraud": 0,
            },
        ]
    )
    table = frames.rules_table(catalogue, stats, labels_present=True).set_index("rule_id")
    assert list(table.index) == ["r1", "r2", "gone"]
    assert table.loc["r1", "hits"] == 4 and table.loc["r1", "params"] == "threshold=5"
    assert table.loc["r1", "triage_precision"] == 0.75
    assert table.loc["r1", "label_precision"] == 0.5
    assert table.loc["r2", "hits_total"] == 0 and pd.isna(table.loc["r2", "triage_precision"])
    assert table.loc["gone", "description"] == "not in the active catalogue"
    without = frames.rules_table(catalogue, stats, labels_present=False).set_index("rule_id")
    assert pd.isna(without.loc["r1", "label_precision"])


def test_untriaged_first_and_labels() -> None:
    df = frames.alerts_frame([alert(1), alert(2), alert(3)])
    ordered = frames.untriaged_first(df, ["a1"])
    assert list(ordered["alert_id"]) == ["a2", "a3", "a1"]
    label = frames.alert_label(ordered.to_dict("records")[0])
    assert label == "10:30:00 · high · high-amount · 411111******1111 · BANK_A · 102.00 EUR"


def test_merge_aligns_time_zones_and_units() -> None:
    live = frames.alerts_frame([alert(1, seconds_ago=1)])
    history = frames.alerts_frame([alert(2, seconds_ago=5)])
    history["detected_at"] = history["detected_at"].dt.tz_convert("Europe/Berlin").dt.as_unit("us")
    merged = frames.merge_alerts(live, history)
    assert str(merged["detected_at"].dtype) == "datetime64[ns, UTC]"
    assert list(merged["alert_id"]) == ["a1", "a2"]
