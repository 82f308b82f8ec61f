"""Every page rendered by AppTest on a seeded archive: widgets, numbers, filters."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import psycopg
import pytest
from confluent_kafka import Producer
from streamlit.testing.v1 import AppTest

from fraudstream.config import Settings
from fraudstream.dashboard import alerts_feed
from fraudstream.platform.procs import wait_until

from .conftest import HISTORY_REASON
from .seed import DRILL_USER, Seeded, make_alert, tx_row

TIMEOUT = 30


def page_script(name: str) -> None:
    from importlib import import_module

    import_module(f"fraudstream.dashboard.views.{name}").render()


def run_page(name: str) -> AppTest:
    at = AppTest.from_function(page_script, args=(name,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def table_rows(at: AppTest) -> pd.DataFrame:
    assert len(at.table) == 1, "the feed table is missing"
    frame: pd.DataFrame = at.table[0].value
    return frame


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The one dataframe on the page that has ``column``."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} dataframes with column {column!r}"
    return found[0]


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def test_app_entry_renders_overview(app_env: Settings, seeded: Seeded) -> None:
    from fraudstream.dashboard import app

    at = AppTest.from_file(app.__file__, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Overview"
    assert any("PostgreSQL reachable" in c.value for c in at.sidebar.caption)


def test_overview_numbers_per_bank(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("overview")
    assert [h.value for h in at.subheader] == ["All banks", "BANK_A", "BANK_B"]
    table = at.dataframe[0].value.set_index("bank")
    seconds = 15 * 60
    assert table.loc["BANK_A", "transactions"] == seeded.bank_a_transactions
    assert table.loc["BANK_B", "transactions"] == seeded.bank_b_transactions
    assert table.loc["All banks", "alerts"] == 4
    assert table.loc["BANK_A", "alerts_per_minute"] == pytest.approx(3 * 60 / seconds)
    assert table.loc["BANK_A", "transactions_per_second"] == pytest.approx(64 / seconds)
    assert table.loc["BANK_A", "fraud_rate"] == pytest.approx(3 / 64)
    # Latencies 0.5, 1.0, 1.5 s on BANK_A.
    assert table.loc["BANK_A", "latency_p50"] == pytest.approx(1.0)
    assert table.loc["BANK_A", "latency_p99"] == pytest.approx(1.49, abs=0.01)
    assert table.loc["BANK_B", "latency_p50"] == pytest.approx(2.0)
    amounts = [a.amount for a in seeded.alerts if a.bank_id == "BANK_A"]
    assert table.loc["BANK_A", "amount_at_risk"] == pytest.approx(sum(amounts))
    labels = [label for label, _ in metrics(at)]
    assert labels[:6] == [
        "Transactions/s",
        "Alerts/min",
        "Fraud rate",
        "Amount at risk",
        "Latency p50",
        "Latency p99",
    ]
    assert ("Latency p50", "1.00 s") in metrics(at)
    # A wider window changes the rates.
    at.selectbox(key="overview_range").set_value("last hour").run()
    assert not at.exception
    table = at.dataframe[0].value.set_index("bank")
    assert table.loc["BANK_A", "transactions_per_second"] == pytest.approx(64 / 3600)


def test_alerts_feed_of_cases_newest_first_and_filters(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("alerts")
    feed = table_rows(at)
    # 4 alerts in the last hour (the two-day-old one is outside), 3 cases:
    # the two high-amount alerts of one card are one case.
    assert len(feed) == 3
    assert list(feed["time"]) == sorted(feed["time"], reverse=True)
    assert set(feed.columns) >= {
        "time",
        "severity",
        "case",
        "alerts",
        "rules",
        "reason",
        "card",
        "bank",
        "amount",
    }
    assert "378282*****0005" in set(feed["card"])
    case = feed.set_index("case").loc[seeded.case_id[:8]]
    assert case["alerts"] == 2 and case["rules"] == "high-amount"

    # Each case shows the alerts inside: the newest case first, any on request.
    at.selectbox(key="alerts_case").set_value(seeded.case_id).run()
    inside = frame_with(at, "hits")  # the case's alerts, each with its episode's hits
    assert len(inside) == 2 and set(inside["rule"]) == {"high-amount"}

    at.multiselect(key="alerts_rules").set_value(["high-amount"]).run()
    assert set(table_rows(at)["rules"]) == {"high-amount"}
    assert len(table_rows(at)) == 1

    at.multiselect(key="alerts_banks").set_value(["BANK_B"]).run()
    assert not at.table
    assert any("No alerts match" in i.value for i in at.info)

    at.selectbox(key="alerts_range").set_value("all time").run()
    feed = table_rows(at)
    assert len(feed) == 1 and feed["amount"].iloc[0] == "777.00 EUR"

    at.multiselect(key="alerts_rules").set_value([]).run()
    at.multiselect(key="alerts_banks").set_value([]).run()
    at.multiselect(key="alerts_severities").set_value(["critical"]).run()
    feed = table_rows(at)
    assert list(feed["rules"]) == ["geo-jump"]


def test_alerts_drilldown_on_user_and_card(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("alerts")
    at.text_input(key="alerts_subject").input(str(DRILL_USER)).run()
    assert not at.exception
    assert len(frame_with(at, "transaction_id")) == 4
    # The drill-down's alerts come after the case list's alerts of a case.
    drilled = [d.value for d in at.dataframe if "rule" in d.value.columns][-1]
    assert list(drilled["rule"]) == ["geo-jump"]

    card = seeded.alerts[2].card_token
    at.text_input(key="alerts_subject").input(card).run()
    assert len(frame_with(at, "transaction_id")) == 4

    at.text_input(key="alerts_subject").input("not a card").run()
    assert any("card token" in w.value for w in at.warning)


def test_analytics_groups_and_map(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("analytics")
    frames = {c: frame_with(at, c) for c in ("rule_id", "bank_id", "payment_system", "merchant")}
    frames["country"] = frame_with(at, "country")
    by_rule = frames["rule_id"].set_index("rule_id")["alerts"].to_dict()
    assert by_rule == {"high-amount": 2, "geo-jump": 1, "velocity": 1}
    assert frames["bank_id"].set_index("bank_id")["alerts"].to_dict() == {
        "BANK_A": 3,
        "BANK_B": 1,
    }
    assert set(frames["payment_system"]["payment_system"]) == {"VISA", "AMEX", "MASTERCARD"}
    assert "Far Away Travel" in set(frames["merchant"]["merchant"])
    countries = frames["country"].set_index("country")["alerts"].to_dict()
    assert countries == {"DE": 2, "FR": 1, "US": 1}
    assert len(at.get("deck_gl_json_chart")) == 1
    assert ("Alerts in range", "4") in metrics(at)

    at.selectbox(key="analytics_range").set_value("all time").run()
    assert ("Alerts in range", "5") in metrics(at)


def test_rules_catalogue_hits_and_precision(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("rules")
    table = at.dataframe[0].value.set_index("rule_id")
    from fraudstream.detection.rules.catalogue import load_catalogue

    for rule in load_catalogue().rules:
        assert rule.id in table.index
    assert table.loc["high-amount", "hits"] == 2
    assert table.loc["high-amount", "hits_total"] == 3
    # geo-jump is not in the catalogue but has hits: listed, marked as such.
    assert table.loc["geo-jump", "description"] == "not in the active catalogue"
    assert table.loc["geo-jump", "triage_precision"] == pytest.approx(1.0)
    assert table.loc["geo-jump", "label_precision"] == pytest.approx(1.0)
    assert table.loc["high-amount", "label_precision"] == pytest.approx(0.0)
    assert pd.isna(table.loc["high-amount", "triage_precision"])

    at.selectbox(key="rules_range").set_value("all time").run()
    table = at.dataframe[0].value.set_index("rule_id")
    assert table.loc["high-amount", "hits"] == 3


def test_triage_writes_a_verdict_on_a_whole_case(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("triage")
    box = at.selectbox(key="triage_case")
    # Untriaged cases come first; the seeded verdict's case is last.
    assert box.options[-1].endswith("[Confirmed fraud]")
    assert len(box.options) == 4  # 5 alerts, 4 cases
    box.set_value(seeded.case_id).run()
    inside = frame_with(at, "rule")
    assert len(inside) == 2  # the case's alerts, shown before the verdict
    at.radio(key="triage_verdict").set_value("false_positive")
    at.text_area(key="triage_note").input("customer confirmed the purchase")
    at.text_input(key="triage_analyst").input("ana")
    at.button[0].click().run()
    assert not at.exception
    assert any("False positive" in s.value and "2 alerts" in s.value for s in at.success)
    members = (seeded.alerts[0].alert_id, seeded.alerts[1].alert_id)

    def verdicts() -> list[tuple[object, ...]]:
        with psycopg.connect(app_env.dsn) as conn:
            return conn.execute(
                "SELECT alert_id, verdict, note, analyst FROM alert_triage"
                " WHERE alert_id = ANY(%s) ORDER BY alert_id",
                (list(members),),
            ).fetchall()

    # The verdict applies to every alert of the case.
    assert verdicts() == [
        (a, "false_positive", "customer confirmed the purchase", "ana") for a in sorted(members)
    ]
    # The Rules page counts it per alert: high-amount now has 2 false positives.
    rules = run_page("rules").dataframe[0].value.set_index("rule_id")
    assert rules.loc["high-amount", "false_positives"] == 2
    assert rules.loc["high-amount", "triage_precision"] == pytest.approx(0.0)
    # Marking again replaces the verdict.
    at.selectbox(key="triage_case").set_value(seeded.case_id).run()
    at.radio(key="triage_verdict").set_value("confirmed_fraud")
    at.button[0].click().run()
    assert [v[1] for v in verdicts()] == ["confirmed_fraud", "confirmed_fraud"]


def test_reads_run_in_read_only_sessions(app_env: Settings, seeded: Seeded) -> None:
    from fraudstream.dashboard.queries import Archive

    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        Archive(app_env.dsn).frame(
            "INSERT INTO alert_triage (alert_id, verdict) VALUES ('x', 'false_positive')"
            " RETURNING alert_id"
        )


def test_live_alert_from_kafka_reaches_the_feed(app_env: Settings, seeded: Seeded) -> None:
    at = run_page("alerts")
    feed = next(f for f in alerts_feed._feeds if f.topic == app_env.topic_alerts)
    wait_until(lambda: feed.status().live, timeout=30, component="alert feed", what="assignment")
    tx = tx_row(
        bank="BANK_C", card="visa", user=31337, amount=4321.0, country="SE", when=seeded.now
    )
    alert = make_alert(
        tx, rule="high-amount", severity="critical", latency=0.2, reason="live-only alert"
    )
    producer = Producer(app_env.kafka_client_config())
    payload: dict[str, Any] = alert.to_dict()
    for _ in range(2):  # a duplicate delivery must show once
        producer.produce(app_env.topic_alerts, json.dumps(payload).encode(), key=alert.card_token)
    producer.flush(10)
    wait_until(
        lambda: len(feed.alerts()) >= 1 and feed.status().duplicates >= 1,
        timeout=20,
        component="alert feed",
        what="the injected alert",
    )
    at.run()
    feed_rows = table_rows(at)
    assert feed_rows["reason"].iloc[0] == "live-only alert"
    assert list(feed_rows["reason"]).count("live-only alert") == 1
    assert feed_rows["bank"].iloc[0] == "BANK_C"
    # Started at the end of the topic: what was there before is not re-read.
    assert HISTORY_REASON not in {a.reason for a in feed.alerts()}
    assert feed.status().received == 2
