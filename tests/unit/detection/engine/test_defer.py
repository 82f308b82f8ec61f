"""Deferring rules: a card rule with ``defer: true`` opens no alert of its own
while another rule's alert is open on the card; its finding joins that alert as
a hit. Its own open episode still continues, and it runs after the rules that
do not defer."""

from __future__ import annotations

from typing import Any

import pytest

from fraudstream.detection.engine.engine import JOINED, Engine
from fraudstream.detection.rules import parse_catalogue
from fraudstream.detection.rules.catalogue import CatalogueError

from ..rules.conftest import Stream, run

# Listed first on purpose: the engine runs deferring rules last all the same.
SPIKE = {
    "id": "spike",
    "type": "amount_spike",
    "defer": True,
    "params": {"min_history": 3, "factor": 5, "min_amount": 100},
}
FAST = {
    "id": "fast",
    "type": "card_velocity",
    "cooldown_seconds": 600,
    "params": {"window_seconds": 60, "limit": 3},
}
# A user rule that never fires: user profiles are kept, so cases are per user.
USERS = {"id": "users", "type": "user_velocity", "params": {"window_seconds": 60, "limit": 99}}


def engine(*rules: dict[str, Any]) -> Engine:
    return Engine(parse_catalogue({"rules": list(rules)}))


def test_a_finding_on_the_same_transaction_is_said_in_the_other_rules_alert() -> None:
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3, 600)]
    # The 4th transaction is both the 4th in a minute and a spike: one alert,
    # published once, fast's with the spike's reason after its own.
    e = engine(SPIKE, FAST)
    alerts = run(e, txs)
    assert [(a.rule_id, a.hits, a.severity) for a in alerts] == [("fast", 1, "medium")]
    own, added = alerts[0].reason.split(JOINED)
    assert "transactions in 60 s" in own and added.startswith("spike: amount 600.00")
    assert e.deferred == {"spike": 1}
    # Without defer, both alert on it.
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3, 600)]
    assert [a.rule_id for a in run(engine({**SPIKE, "defer": False}, FAST), txs)] == [
        "spike",
        "fast",
    ]


def test_a_deferring_rules_finding_joins_the_open_alert_of_the_card() -> None:
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3), s.tx(200, 900)]
    alerts = run(engine(SPIKE, FAST), txs)
    # fast opens on A-4; the spike on A-5 (no hit of fast's: the burst is over,
    # its episode still open) becomes fast's alert again, with A-5 its latest
    # and both reasons.
    assert [(a.rule_id, a.hits, a.last_transaction_id) for a in alerts] == [
        ("fast", 1, "A-4"),
        ("fast", 2, "A-5"),
    ]
    joined = alerts[-1]
    assert joined.alert_id == alerts[0].alert_id and joined.case_id == alerts[0].case_id
    assert "A-5" in joined.evidence
    own, added = joined.reason.split(JOINED)
    assert own == alerts[0].reason and added.startswith("spike: amount 900.00")


def test_after_the_open_alert_closes_a_deferring_rule_alerts_on_its_own() -> None:
    s = Stream()
    # fast's episode (cool-down 600 s) has ended by A-5.
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3), s.tx(700, 900)]
    alerts = run(engine(SPIKE, FAST), txs)
    assert [(a.rule_id, a.transaction_id) for a in alerts] == [("fast", "A-4"), ("spike", "A-5")]


def test_another_card_of_the_user_gets_its_own_alert_in_the_same_case() -> None:
    s = Stream()
    txs = [s.tx(0, card="A"), s.tx(1, card="A"), s.tx(2, card="A"), s.tx(3, card="A")]
    txs += [s.tx(100 * (i + 1), card="B") for i in range(3)] + [s.tx(400, 900, card="B")]
    alerts = run(engine(SPIKE, FAST, USERS), txs)
    # Card B has no open alert to join: its spike is an alert of its own, in
    # the user's case.
    assert [(a.rule_id, a.card_token) for a in alerts] == [("fast", "tok-A"), ("spike", "tok-B")]
    assert len({a.case_id for a in alerts}) == 1


def test_a_deferring_rules_own_episode_continues() -> None:
    fast = {**FAST, "defer": True}
    high = {"id": "high", "type": "high_amount", "params": {"threshold": 1000}}
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3), s.tx(4, 2000), s.tx(5)]
    alerts = run(engine(fast, high), txs)
    # fast opens on A-4 and continues on; high_amount judges each
    # transaction alone and keeps no episode for fast to join.
    assert [(a.rule_id, a.hits, a.last_transaction_id) for a in alerts] == [
        ("fast", 1, "A-4"),
        ("high", 1, "A-5"),
        ("fast", 2, "A-5"),
        ("fast", 3, "A-6"),
    ]


@pytest.mark.parametrize("rule", [{**USERS, "defer": True}])
def test_defer_is_refused_outside_the_card_scope(rule: dict[str, Any]) -> None:
    with pytest.raises(CatalogueError, match="defer applies to card rules only"):
        parse_catalogue({"rules": [rule]})


def test_a_joined_alert_takes_the_higher_severity_and_keeps_the_joined_reason() -> None:
    spike = {**SPIKE, "severity": "critical"}
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3), s.tx(200, 900), s.tx(201), s.tx(202), s.tx(203)]
    alerts = run(engine(spike, FAST), txs)
    # fast opens (medium), the spike joins on A-5 (critical), then fast's own
    # hits on A-6..A-8 (a new burst within its cool-down) keep the joined reason.
    assert [(a.rule_id, a.hits, a.severity) for a in alerts] == [
        ("fast", 1, "medium"),
        ("fast", 2, "critical"),
        ("fast", 3, "critical"),
    ]
    own, added = alerts[-1].reason.split(JOINED)
    assert "transactions in 60 s" in own and added.startswith("spike: amount 900.00")


def test_the_more_severe_deferring_rule_runs_first() -> None:
    score_like = {"id": "big", "type": "high_amount", "severity": "high", "defer": True}
    big = {**score_like, "params": {"threshold": 500}}
    e = engine(SPIKE, big)
    assert [r.id for r in e.card_rules] == ["big", "spike"]
    s = Stream()
    txs = [s.tx(0), s.tx(100), s.tx(200), s.tx(300, 900)]
    # big (high) fires first and keeps no episode to join; the spike opens its own.
    assert [(a.rule_id, a.severity) for a in run(e, txs)] == [("big", "high"), ("spike", "medium")]
