from __future__ import annotations

from dataclasses import replace

import pandas as pd

from fraudstream.dashboard import cases, frames
from fraudstream.dashboard.queries import AlertFilter

from .test_frames import alert


def grouped() -> pd.DataFrame:
    """Case c1: a1 (high, 30 s ago) and a2 (critical, 10 s ago); a3 has no case id."""
    items = [
        replace(alert(1, seconds_ago=30), case_id="c1"),
        replace(alert(2, rule="velocity", severity="critical", seconds_ago=10), case_id="c1"),
        alert(3, severity="low", seconds_ago=20, user=8),
    ]
    return frames.merge_alerts(frames.alerts_frame(items))


def test_cases_group_alerts_by_case_id_and_stand_alone_alerts_by_their_own_id() -> None:
    table = cases.cases_frame(grouped())
    assert list(table["case_id"]) == ["c1", "a3"]  # most recently active first
    c1 = table.iloc[0]
    assert c1["alerts"] == 2 and c1["rules"] == "high-amount, velocity"
    assert c1["severity"] == "critical" and c1["reason"] == "reason 2"
    assert c1["amount"] == 102.0 and set(c1["alert_ids"]) == {"a1", "a2"}
    shown = cases.case_table(table)
    assert list(shown["alerts"]) == [2, 1] and list(shown["case"]) == ["c1", "a3"]
    assert cases.cases_frame(frames.alerts_frame([])).empty


def test_alerts_of_a_case_and_the_filter_agree() -> None:
    df = grouped()
    assert set(cases.alerts_of(df, "c1")["alert_id"]) == {"a1", "a2"}
    assert set(frames.filter_alerts(df, AlertFilter(case_id="c1"))["alert_id"]) == {"a1", "a2"}
    assert list(frames.filter_alerts(df, AlertFilter(case_id="a3"))["alert_id"]) == ["a3"]
    where, params = AlertFilter(case_id="c1").where()
    assert "case_id = %(case_id)s" in where and params["case_id"] == "c1"


def test_case_verdicts_and_untriaged_first() -> None:
    assert cases.case_verdict(("a1", "a2"), {}) is None
    assert cases.case_verdict(("a1", "a2"), {"a1": "false_positive", "a2": "false_positive"}) == (
        "false_positive"
    )
    # An alert that joined the case after its verdict leaves it partly triaged.
    assert cases.case_verdict(("a1", "a2"), {"a1": "confirmed_fraud"}) == cases.MIXED
    table = cases.cases_frame(grouped())
    ordered = cases.untriaged_first(table, {"a1": "confirmed_fraud", "a2": "confirmed_fraud"})
    assert list(ordered["case_id"]) == ["a3", "c1"]
    label = cases.case_label(ordered.to_dict("records")[1])
    assert "case c1" in label and "2 alerts (high-amount, velocity)" in label
