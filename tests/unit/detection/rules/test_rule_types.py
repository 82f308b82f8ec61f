"""Each rule type on a small hand-written stream, run by Flink in-process:
the positive case, the boundary, and honest look-alikes. Cases use separate
cards so one Flink run covers a rule type."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fraudstream import geo
from fraudstream.detection.rules import load_catalogue

from .conftest import RuleRunner, Stream, fired

pytestmark = pytest.mark.slow


def rule(rule_id: str, rule_type: str, **params: Any) -> dict[str, Any]:
    return {"id": rule_id, "type": rule_type, "severity": "high", "params": params}


def by_tx(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["transaction_id"]: a for a in alerts}


def check_common(alerts: list[dict[str, Any]]) -> None:
    for a in alerts:
        assert 0.0 <= a["score"] <= 1.0
        assert a["transaction_id"] in json.loads(a["evidence"])
        assert a["card_masked"] == "411111******1111"
        assert "4111111111111111" not in a["reason"]


def test_high_amount_per_currency(runner: RuleRunner) -> None:
    s = Stream()
    at_limit = s.tx("h1", 5000.00, 0)
    over = s.tx("h2", 5000.01, 1)
    yen_normal = s.tx("h3", 600000, 2, currency="JPY")
    yen_high = s.tx("h4", 800000, 3, currency="JPY")
    euro_high = s.tx("h5", 7000, 4, currency="EUR")
    small = s.tx("h6", 12.5, 5)
    odd_id = s.tx("h7", 9000, 6, tid='odd"id\\x')
    alerts = runner.alerts(
        [rule("big", "high_amount", threshold=5000, per_currency={"JPY": 750000})], s
    )
    check_common(alerts)
    assert fired(alerts) == {over, yen_high, euro_high, odd_id}
    # Evidence stays valid JSON whatever the id contains.
    assert json.loads(by_tx(alerts)[odd_id]["evidence"]) == [odd_id]
    assert not {at_limit, yen_normal, small} & fired(alerts)
    a = by_tx(alerts)[over]
    assert a["reason"] == (
        "amount 5000.01 USD on card 411111******1111 is above the limit of 5000.00 USD"
    )
    assert a["rule_id"] == "big" and a["rule_type"] == "high_amount" and a["severity"] == "high"
    assert a["evidence"] == json.dumps([over]).replace(" ", "")
    assert a["event_time"] == "2025-12-16 10:00:01.000"
    assert "750000.00 JPY" in by_tx(alerts)[yen_high]["reason"]


def test_card_velocity_sliding_window(runner: RuleRunner) -> None:
    s = Stream()
    burst = [s.tx("v1", 10, t) for t in (0, 10, 20, 30, 40, 50)]
    five = [s.tx("v2", 10, t) for t in (0, 10, 20, 30, 40)]
    # 15 s apart: any 60 s window ending at a transaction holds at most 5.
    spread = [s.tx("v3", 10, t) for t in (0, 15.001, 30, 45, 60, 75)]
    # The window includes a transaction exactly 60 s before the current one.
    edge = [s.tx("v4", 10, t) for t in (0, 12, 24, 36, 48, 60)]
    alerts = runner.alerts([rule("fast", "card_velocity", window_seconds=60, limit=5)], s)
    check_common(alerts)
    assert fired(alerts) == {burst[-1], edge[-1]}
    assert not (set(five) | set(spread)) & fired(alerts)
    a = by_tx(alerts)[burst[-1]]
    assert a["reason"] == "6 transactions in 60 s on card 411111******1111, limit 5"
    assert json.loads(a["evidence"]) == burst
    assert a["score"] == pytest.approx(1 - 0.5 * 5 / 6)


def test_amount_spike_against_own_history(runner: RuleRunner) -> None:
    s = Stream()
    for i, amount in enumerate((18, 22, 19, 21, 20, 17, 23, 20)):
        s.tx("s1", amount, i * 600)
    spike = s.tx("s1", 900, 8 * 600)
    # An honest big spender: a large purchase that is normal for this card.
    for i, amount in enumerate((2100, 2900, 2500, 3100, 1900, 2700, 2400, 2600)):
        s.tx("s2", amount, i * 600)
    big_but_normal = s.tx("s2", 6000, 8 * 600)
    # Too little history to judge.
    for i in range(3):
        s.tx("s3", 20, i * 600)
    new_card = s.tx("s3", 900, 3 * 600)
    # Six times the mean, but below min_amount.
    for i in range(6):
        s.tx("s4", 10, i * 600)
    petty = s.tx("s4", 60, 6 * 600)
    # Exactly factor x mean does not fire (amount must exceed it).
    for i in range(6):
        s.tx("s5", 40, i * 600)
    exactly = s.tx("s5", 200, 6 * 600)
    alerts = runner.alerts(
        [
            rule(
                "spike",
                "amount_spike",
                history=20,
                min_history=5,
                factor=5,
                stddevs=3,
                min_amount=100,
            )
        ],
        s,
    )
    check_common(alerts)
    assert fired(alerts) == {spike}
    assert not {big_but_normal, new_card, petty, exactly} & fired(alerts)
    reason = by_tx(alerts)[spike]["reason"]
    assert reason.startswith("amount 900.00 USD on card 411111******1111 is 45.0x its mean")
    assert "of 20.00 over its last 8 transactions" in reason and "limit 5x" in reason


def test_impossible_travel(runner: RuleRunner) -> None:
    d = geo.distance_km("US", "GB") - 500
    needed_s = d / 900 * 3600  # time at which the trip is exactly 900 km/h
    s = Stream()
    s.tx("t1", 50, 0, country="US")
    jump = s.tx("t1", 50, 1800, country="RU")
    # An honest traveller: a transatlantic flight with a plausible gap.
    s.tx("t2", 50, 0, country="GB")
    s.tx("t2", 50, 9 * 3600, country="US")
    # Just faster / just slower than the limit.
    s.tx("t3", 50, 0, country="US")
    too_fast = s.tx("t3", 50, needed_s * 0.97, country="GB")
    s.tx("t4", 50, 0, country="US")
    s.tx("t4", 50, needed_s * 1.03, country="GB")
    # Neighbouring countries an hour apart; the same country twice quickly.
    s.tx("t5", 50, 0, country="FR")
    s.tx("t5", 50, 3600, country="DE")
    s.tx("t6", 50, 0, country="DE")
    s.tx("t6", 50, 30, country="DE")
    # A country without coordinates never fires.
    s.tx("t7", 50, 0, country="US")
    s.tx("t7", 50, 60, country="ZZ")
    alerts = runner.alerts([rule("travel", "impossible_travel", max_speed_kmh=900)], s)
    check_common(alerts)
    assert fired(alerts) == {jump, too_fast}
    a = by_tx(alerts)[jump]
    assert json.loads(a["evidence"]) == ["t1-1", jump]
    km = round(geo.distance_km("US", "RU"))
    assert a["reason"].startswith(
        f"card 411111******1111 used in US then in RU 30.0 min later: {km} km between"
    )
    assert "limit 900 km/h" in a["reason"]


def test_card_testing(runner: RuleRunner) -> None:
    s = Stream()
    probes = [s.tx("k1", 1.00, t) for t in (0, 20, 40)]
    cash_out = s.tx("k1", 400, 90)
    # Two small ones are not enough (limit 3).
    for t in (0, 20):
        s.tx("k2", 1.00, t)
    s.tx("k2", 400, 60)
    # Several small purchases with no large one: an honest coffee habit.
    for t in (0, 600, 1200, 1800, 2400):
        s.tx("k3", 3.50, t)
    # The large one comes too late (outside 10 min).
    for t in (0, 20, 40):
        s.tx("k4", 1.00, t)
    s.tx("k4", 400, 1200)
    # The last one is just below large_min.
    for t in (0, 20, 40):
        s.tx("k5", 1.00, t)
    s.tx("k5", 99.99, 60)
    alerts = runner.alerts(
        [
            rule(
                "testing",
                "card_testing",
                min_small=3,
                small_max=5,
                large_min=100,
                within_seconds=600,
            )
        ],
        s,
    )
    check_common(alerts)
    assert fired(alerts) == {cash_out}
    a = by_tx(alerts)[cash_out]
    assert json.loads(a["evidence"]) == [*probes, cash_out]
    assert a["reason"] == (
        "3 small amounts (each at most 5) then 400.00 USD within 90 s on card "
        "411111******1111, limit 3 small then at least 100"
    )


def test_country_hopping(runner: RuleRunner) -> None:
    s = Stream()
    s.tx("c1", 30, 0, country="US")
    s.tx("c1", 30, 600, country="GB")
    s.tx("c1", 30, 1200, country="FR")
    fourth = s.tx("c1", 30, 1800, country="DE")
    s.tx("c1", 30, 2400, country="US")  # still 4 countries: no second alert
    # Three countries is within the limit.
    for t, country in ((0, "US"), (600, "CA"), (1200, "MX")):
        s.tx("c2", 30, t, country=country)
    # Four countries, but spread over more than an hour.
    for t, country in ((0, "US"), (4000, "GB"), (8000, "FR"), (12000, "DE")):
        s.tx("c3", 30, t, country=country)
    alerts = runner.alerts([rule("hop", "country_hopping", window_seconds=3600, limit=3)], s)
    check_common(alerts)
    assert fired(alerts) == {fourth}
    assert by_tx(alerts)[fourth]["reason"] == (
        "4 countries (US,GB,FR,DE) in 1 h on card 411111******1111, limit 3"
    )


def test_seed_baseline_pack_keeps_legacy_semantics(runner: RuleRunner) -> None:
    seed = load_catalogue(packs=["seed-baseline"])
    rules = [r.model_dump() for r in seed.rules if r.pack == "seed-baseline"]
    rules.append(rule("velocity", "card_velocity", window_seconds=60, limit=5))
    s = Stream()
    # User 10: 6 transactions inside one 2-minute window -> one legacy alert,
    # raised for the window's last transaction.
    user10 = [s.tx("u10", 10, t, user=10) for t in (0, 10, 20, 30, 40, 110)]
    # User 11: a burst of 6 in 50 s across the 10:02 boundary: the legacy rule
    # misses it, the sliding card velocity rule does not.
    user11 = [s.tx("u11", 10, t, user=11) for t in (95, 105, 115, 125, 135, 145)]
    # User 12: 3 countries in the 10:00-11:00 window; user 13: only 2.
    for t, country in ((0, "US"), (600, "GB"), (1200, "FR")):
        last12 = s.tx("u12", 10, t, user=12, country=country)
    for t, country in ((0, "US"), (600, "GB")):
        s.tx("u13", 10, t, user=13, country=country)
    big = s.tx("u14", 5000.01, 0, user=14)
    s.tx("u15", 5000.00, 0, user=15)
    alerts = runner.alerts(rules, s)
    check_common(alerts)
    assert fired(alerts, "seed-user-velocity") == {user10[-1]}
    assert fired(alerts, "velocity") == {user11[-1]}
    assert fired(alerts, "seed-user-countries") == {last12}
    assert fired(alerts, "seed-high-amount") == {big}
    legacy = by_tx([a for a in alerts if a["rule_id"] == "seed-user-velocity"])[user10[-1]]
    assert json.loads(legacy["evidence"]) == user10
    assert legacy["reason"] == (
        "6 transactions by user 10 in the 2 min tumbling window from 2025-12-16 10:00:00, limit 5"
    )


def test_shipped_catalogue_in_one_query(runner: RuleRunner) -> None:
    """The default rules.yaml (block list aside: it needs PostgreSQL) as one
    UNION ALL: each scenario raises its rule, an ordinary customer raises none."""
    shipped = [r.model_dump() for r in load_catalogue().enabled() if r.type != "blocklist"]
    s = Stream()
    for i, amount in enumerate((23.5, 61.0, 12.9, 45.0, 80.0, 33.3, 19.9, 54.2)):
        s.tx("honest", amount, i * 5400, merchant=f"Shop {i}")
    big = s.tx("rich", 9000, 0)
    burst = [s.tx("burst", 20, t) for t in range(0, 60, 10)]
    for i in range(6):
        s.tx("spiky", 20, i * 3600)
    spike = s.tx("spiky", 950, 6 * 3600)
    s.tx("jet", 40, 0, country="US")
    jump = s.tx("jet", 40, 900, country="JP")
    probes = [s.tx("probe", 1, t) for t in (0, 30, 60)]
    cash_out = s.tx("probe", 500, 120)
    hops = [s.tx("hop", 40, t * 1200, country=c) for t, c in enumerate(("PT", "ES", "FR", "IT"))]
    alerts = runner.alerts(shipped, s)
    check_common(alerts)
    assert not any(a["transaction_id"].startswith("honest") for a in alerts)
    assert big in fired(alerts, "high-amount")
    assert fired(alerts, "card-velocity-1m") == {burst[-1]}
    assert spike in fired(alerts, "amount-spike")
    # Hopping a country every 20 min is also too fast to travel: both fire.
    assert fired(alerts, "impossible-travel") >= {jump}
    assert fired(alerts, "card-testing") == {cash_out}
    testing = next(a for a in alerts if a["rule_id"] == "card-testing")
    assert json.loads(testing["evidence"]) == [*probes, cash_out]
    assert fired(alerts, "country-hopping") == {hops[-1]}
