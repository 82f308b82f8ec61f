"""Deferring rules: a card rule with ``defer: true`` opens no new alert while
its card's case (its user's) had an alert within the rule's cool-down; its own
open episode still continues, and it runs after the rules that do not defer."""

from __future__ import annotations

from typing import Any

import pytest

from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.rules import parse_catalogue
from fraudstream.detection.rules.catalogue import CatalogueError

from ..rules.conftest import Stream, run

# Listed first on purpose: the engine runs deferring rules last all the same.
BIG = {"id": "big", "type": "high_amount", "defer": True, "cooldown_seconds": 300}
BIG_PARAMS = {"threshold": 500}
FAST = {"id": "fast", "type": "card_velocity", "params": {"window_seconds": 60, "limit": 3}}
# A user rule that never fires: user profiles are kept, so cases are per user.
USERS = {"id": "users", "type": "user_velocity", "params": {"window_seconds": 60, "limit": 99}}


def engine(*rules: dict[str, Any]) -> Engine:
    return Engine(parse_catalogue({"rules": list(rules)}))


def big(**changes: Any) -> dict[str, Any]:
    return {**BIG, "params": BIG_PARAMS, **changes}


def test_a_deferring_rule_does_not_repeat_an_alert_on_the_same_transaction() -> None:
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3, 600)]
    # The 4th transaction is both the 4th in a minute and above 500.
    assert [a.rule_id for a in run(engine(big(), FAST), txs)] == ["fast"]
    # Without defer, both alert on it.
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3, 600)]
    assert [a.rule_id for a in run(engine(big(defer=False), FAST), txs)] == ["big", "fast"]


def test_a_deferring_rule_alerts_when_the_case_is_quiet_then_waits_its_cooldown() -> None:
    s = Stream()
    txs = [s.tx(0, 600), s.tx(10, 700), s.tx(200, 800), s.tx(500, 900)]
    alerts = run(engine(big(), USERS), txs)
    # A-1 opens the case; come within 300 s of the case's latest
    # alert; A-4 comes 500 s after it.
    assert [(a.rule_id, a.transaction_id) for a in alerts] == [("big", "A-1"), ("big", "A-4")]


def test_a_deferring_rule_is_quiet_on_the_users_other_card_too() -> None:
    s = Stream()
    txs = [s.tx(0, 600, card="A"), s.tx(10, 600, card="B"), s.tx(20, 600, card="C", user=2)]
    alerts = run(engine(big(), USERS), txs)
    # B is the same user's card: the case already has A-1's alert. C is another user's.
    assert [a.transaction_id for a in alerts] == ["A-1", "C-1"]


def test_without_user_profiles_a_deferring_rule_looks_at_the_cards_case() -> None:
    s = Stream()
    txs = [s.tx(0, 600, card="A"), s.tx(10, 600, card="B")]
    assert [a.transaction_id for a in run(engine(big()), txs)] == ["A-1", "B-1"]


def test_a_deferring_rules_own_episode_continues_after_another_alert() -> None:
    fast = {**FAST, "defer": True}
    high = {"id": "high", "type": "high_amount", "params": {"threshold": 1000}}
    s = Stream()
    txs = [s.tx(0), s.tx(1), s.tx(2), s.tx(3), s.tx(4, 2000), s.tx(5)]
    alerts = run(engine(fast, high), txs)
    # fast opens, high alerts (A-5; fast's hit on A-5 continues its
    # episode), and fast's hit on A-6 continues it again.
    assert [(a.rule_id, a.hits, a.last_transaction_id) for a in alerts] == [
        ("fast", 1, "A-4"),
        ("high", 1, "A-5"),
        ("fast", 2, "A-5"),
        ("fast", 3, "A-6"),
    ]
    assert len({a.case_id for a in alerts}) == 1


@pytest.mark.parametrize("rule", [{**USERS, "defer": True}])
def test_defer_is_refused_outside_the_card_scope(rule: dict[str, Any]) -> None:
    with pytest.raises(CatalogueError, match="defer applies to card rules only"):
        parse_catalogue({"rules": [rule]})
