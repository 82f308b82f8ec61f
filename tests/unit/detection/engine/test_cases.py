"""Cases: the alerts of one user (over all their cards; of one card when no user
profile is kept) or merchant within the case cool-down share a case id, the id of
the alert that opened the case."""

from __future__ import annotations

from typing import Any

from fraudstream.detection.engine.engine import CASE_KEY, Engine
from fraudstream.detection.rules import parse_catalogue
from fraudstream.records import alert_id

from ..rules.conftest import Stream, run

RULES: list[dict[str, Any]] = [
    {"id": "high", "type": "high_amount", "params": {"threshold": 1000}},
    {"id": "fast", "type": "card_velocity", "params": {"window_seconds": 60, "limit": 3}},
    {"id": "user-fast", "type": "user_velocity", "params": {"window_seconds": 60, "limit": 3}},
]


def engine(cooldown: int = 600) -> Engine:
    return Engine(parse_catalogue({"rules": RULES, "cases": {"cooldown_seconds": cooldown}}))


def test_alerts_of_one_card_within_the_cooldown_form_one_case() -> None:
    s = Stream()
    txs = [s.tx(0, 2000), *(s.tx(100 + i, 20) for i in range(5))]
    alerts = [a for a in run(engine(), txs) if a.rule_id != "user-fast"]
    first = alert_id("high", "A-1")
    # high-amount opens the case; the velocity episode 100 s later joins it,
    # and its later hit keeps the same alert and case.
    assert [(a.rule_id, a.hits, a.case_id) for a in alerts] == [
        ("high", 1, first),
        ("fast", 1, first),
        ("fast", 2, first),
    ]


def test_a_quiet_gap_longer_than_the_cooldown_opens_a_new_case() -> None:
    s = Stream()
    txs = [s.tx(0, 2000), s.tx(601, 20), s.tx(1202, 3000)]
    alerts = run(engine(cooldown=600), txs)
    assert [a.case_id for a in alerts] == [alert_id("high", "A-1"), alert_id("high", "A-3")]


def test_a_users_cards_share_the_users_case_and_users_do_not() -> None:
    s = Stream()
    # Two cards of user 1, then a card of user 2.
    txs = [s.tx(0, 2000, card="A"), s.tx(1, 2000, card="B"), s.tx(2, 2000, card="C", user=2)]
    assert [a.case_id for a in run(engine(), txs)] == [
        alert_id("high", "A-1"),
        alert_id("high", "A-1"),
        alert_id("high", "C-1"),
    ]
    # A user rule's alert joins the same case as the card rules' alerts.
    s = Stream()
    burst = [s.tx(0, 2000, card="A"), *(s.tx(1 + i, 20, card="AB"[i % 2]) for i in range(4))]
    alerts = run(engine(), burst)
    assert {a.rule_id for a in alerts} >= {"high", "user-fast"}
    assert {a.case_id for a in alerts} == {alert_id("high", "A-1")}


def test_without_user_profiles_each_card_has_its_own_cases() -> None:
    card_only = [r for r in RULES if r["type"] != "user_velocity"]
    e = Engine(parse_catalogue({"rules": card_only}))
    assert not e.keeps_users
    s = Stream()
    both = [s.tx(0, 2000, card="A"), s.tx(1, 2000, card="B")]
    assert [a.case_id for a in run(e, both)] == [
        alert_id("high", "A-1"),
        alert_id("high", "B-1"),
    ]


def test_user_alerts_group_per_user() -> None:
    s = Stream()
    txs = [s.tx(i, 20, card="AB"[i % 2], user=5) for i in range(6)]
    alerts = [a for a in run(engine(), txs) if a.rule_id == "user-fast"]
    # The 4th transaction (B-2) is the first above 3 a minute.
    assert {a.case_id for a in alerts} == {alert_id("user-fast", "B-2")}
    assert alerts[0].alert_id == alert_id("user-fast", "B-2")


def test_case_ids_are_deterministic_and_survive_the_state_round_trip() -> None:
    import pickle

    from fraudstream.detection.engine.profile import CardProfile

    s = Stream()
    txs = [s.tx(0, 2000), s.tx(10, 3000), s.tx(20, 4000)]
    first = run(engine(), txs)
    profile = CardProfile()
    e = engine()
    e.card(profile, txs[0], 0)
    restored = CardProfile.from_state(pickle.loads(pickle.dumps(profile.to_state())))
    assert restored.episodes[CASE_KEY][0] == alert_id("high", "A-1")
    later = e.card(restored, txs[1], 0) + e.card(restored, txs[2], 0)
    assert [a.case_id for a in later] == [a.case_id for a in first[1:]]
