"""The engine: the catalogue compiled, one alert per episode, and the same
alerts for the same input (what the job and the backtest both rely on)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fraudstream.detection.engine.engine import MAX_EVIDENCE, MIN_TTL_S, Engine, alert_json
from fraudstream.detection.engine.profile import CardProfile, Sizes, UserProfile
from fraudstream.detection.engine.tx import Tx, iso
from fraudstream.detection.rules import load_catalogue, parse_catalogue
from fraudstream.records import Alert, alert_id

from ..rules.conftest import MASKED, Stream, engine_of, ms, run

BUNDLED_CARD_RULES = (
    "high-amount",
    "card-velocity-1m",
    "card-velocity-1h",
    "impossible-travel",
    "card-testing",
    "country-hopping",
    "card-number-check",
    # The deferring rules last, the more severe first.
    "risk-score",
    "amount-spike",
)


def bundled_without(rule_id: str) -> Engine:
    rules = [r.model_dump() for r in load_catalogue().rules if r.id != rule_id]
    return Engine(parse_catalogue({"rules": rules}))


def burst(stream: Stream, start: float, n: int, step: float = 5.0) -> list[Tx]:
    """n ordinary purchases on card A, ``step`` seconds apart."""
    return [stream.tx(start + i * step) for i in range(n)]


def test_bundled_catalogue_compiles() -> None:
    engine = Engine(load_catalogue())
    assert tuple(r.id for r in engine.card_rules) == BUNDLED_CARD_RULES
    assert [r.id for r in engine.blocklist_rules] == ["blocklist"]
    assert [r.id for r in engine.user_rules] == ["user-velocity-2m", "risky-category"]
    assert [r.id for r in engine.merchant_rules] == ["card-enumeration"]
    assert engine.has_user_rules and engine.has_merchant_rules
    # Each scope's profile keeps what its own rules read; the user's also
    # keeps the 30 amounts the risk score (a card rule) reads of it.
    assert engine.card_reads_user and engine.keeps_users
    assert engine.user_sizes == Sizes(
        times=12,
        amounts=30,
        window_s=3600,
        categories=("4829", "5947", "6051", "7995"),
    )
    assert engine.merchant_sizes == Sizes(cards=40, window_s=300)
    assert engine.user_widths == ()
    # The profile keeps the longest history any enabled rule reads.
    assert engine.sizes == Sizes(
        times=120,
        amounts=20,
        smalls=6,
        small_max=5.0,
        country_window_s=3600,
        window_s=3600,
        habits=16,
    )
    cooldowns = {r.id: r.cooldown_ms for r in engine.card_rules if r.episodic}
    assert cooldowns == {
        "card-velocity-1m": 60_000,
        "card-velocity-1h": 3_600_000,
        "amount-spike": 600_000,
        "impossible-travel": 3_600_000,
        "card-testing": 600_000,
        "country-hopping": 3_600_000,
        "risk-score": 3_600_000,
    }
    assert [r.id for r in engine.card_rules if r.defer] == ["risk-score", "amount-spike"]


def test_seed_baseline_pack_adds_user_rules() -> None:
    engine = Engine(load_catalogue(packs=["seed-baseline"]))
    assert engine.has_user_rules
    assert [r.id for r in engine.user_rules] == [
        "user-velocity-2m",
        "risky-category",
        "seed-user-velocity",
        "seed-user-countries",
    ]
    assert engine.user_widths == (120, 3600)
    assert "seed-high-amount" in {r.id for r in engine.card_rules}


def test_ttl_covers_the_longest_window_and_cooldown() -> None:
    engine = Engine(load_catalogue(packs=["seed-baseline"]))
    assert engine.ttl_s >= engine.sizes.window_s
    assert all(engine.ttl_s * 1000 >= r.cooldown_ms for r in engine.card_rules)
    assert engine_of([{"id": "h", "type": "high_amount"}]).ttl_s == MIN_TTL_S
    long_window = [{"id": "v", "type": "card_velocity", "params": {"window_seconds": 7200}}]
    assert engine_of(long_window).ttl_s == 7200
    long_cooldown = [{"id": "v", "type": "card_velocity", "cooldown_seconds": 10_000}]
    assert engine_of(long_cooldown).ttl_s == 10_000


# -- one alert per episode -------------------------------------------------------


def test_velocity_burst_is_one_alert_with_counted_hits() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    txs = burst(s, 0, 12)  # 12 in 55 s; the 6th is the first above 5 a minute
    alerts = run(engine, txs)
    assert {a.rule_id for a in alerts} == {"card-velocity-1m"}
    expected_id = alert_id("card-velocity-1m", "A-6")
    assert {a.alert_id for a in alerts} == {expected_id}
    assert [a.hits for a in alerts] == [1, 2, 3, 4, 5, 6, 7]
    assert [a.last_transaction_id for a in alerts] == [f"A-{n}" for n in range(6, 13)]
    # The episode stays the first hit's: its transaction, time and amount.
    assert {a.transaction_id for a in alerts} == {"A-6"}
    assert {a.event_time for a in alerts} == {iso(ms(25))}
    # The reason is the newest, the evidence grows with each hit.
    assert alerts[0].reason == f"6 transactions in 60 s on card {MASKED}, limit 5"
    assert alerts[-1].reason.startswith("12 transactions in 60 s")
    assert alerts[0].evidence == tuple(f"A-{n}" for n in range(1, 7))
    assert alerts[-1].evidence == tuple(f"A-{n}" for n in range(1, 13))
    assert [a.score for a in alerts] == sorted(a.score for a in alerts)
    counters = engine.counters
    assert (counters.transactions, counters.alerts, counters.updates) == (12, 1, 6)


def test_new_burst_after_the_cooldown_is_a_new_alert() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    cards: dict[str, CardProfile] = {}
    first = run(engine, burst(s, 0, 8), cards=cards)
    # The last hit was at 35 s; the cool-down of card-velocity-1m is its 60 s
    # window, and the next burst starts at 200 s.
    second = run(engine, burst(s, 200, 8), cards=cards)
    assert {a.alert_id for a in first} == {alert_id("card-velocity-1m", "A-6")}
    assert {a.alert_id for a in second} == {alert_id("card-velocity-1m", "A-14")}
    assert [a.hits for a in second] == [1, 2, 3]


@pytest.mark.parametrize(("gap", "same"), [(10.0, True), (10.001, False)])
def test_episode_ends_strictly_after_its_cooldown(gap: float, same: bool) -> None:
    # Limit 1 in 1 s: each pair of simultaneous transactions is one hit.
    engine = engine_of(
        [
            {
                "id": "v",
                "type": "card_velocity",
                "params": {"window_seconds": 1, "limit": 1},
                "cooldown_seconds": 10,
            }
        ]
    )
    s = Stream()
    alerts = run(engine, [s.tx(0), s.tx(0), s.tx(gap), s.tx(gap)])
    assert [a.transaction_id for a in alerts] == ["A-2", "A-2" if same else "A-4"]
    assert [a.hits for a in alerts] == ([1, 2] if same else [1, 1])
    assert [a.last_transaction_id for a in alerts] == ["A-2", "A-4"]


def test_non_episodic_rule_alerts_on_every_transaction() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    txs = [s.tx(i, 9000.0 + i) for i in range(3)]
    alerts = [a for a in run(engine, txs) if a.rule_id == "high-amount"]
    assert [a.alert_id for a in alerts] == [alert_id("high-amount", t.transaction_id) for t in txs]
    assert all(a.hits == 1 and a.last_transaction_id == a.transaction_id for a in alerts)
    assert all(a.evidence == (a.transaction_id,) for a in alerts)


def test_transactions_a_rule_cannot_judge_are_counted_not_alerted() -> None:
    """impossible_travel needs coordinates for both countries: a code outside
    the country table is counted as unjudged, never alerted on."""
    engine = Engine(load_catalogue())
    s = Stream()
    txs = [s.tx(0, country="US"), s.tx(1, country="ZZ"), s.tx(2, country="FR"), s.tx(3)]
    alerts = run(engine, txs)
    assert not [a for a in alerts if a.rule_id == "impossible-travel" and a.country == "ZZ"]
    assert engine.counters.unjudged == 2  # US -> ZZ and ZZ -> FR


def test_episode_survives_the_state_round_trip() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    txs = burst(s, 0, 10)
    profile = CardProfile()
    for tx in txs[:7]:
        engine.card(profile, tx, tx.event_ms, None)
    profile = CardProfile.from_state(profile.to_state())
    alerts = [a for tx in txs[7:] for a in engine.card(profile, tx, tx.event_ms, None)]
    assert {a.alert_id for a in alerts} == {alert_id("card-velocity-1m", "A-6")}
    assert [a.hits for a in alerts] == [3, 4, 5]


def test_removed_rule_drops_its_open_episode() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    profile = CardProfile()
    for tx in burst(s, 0, 8):
        engine.card(profile, tx, tx.event_ms, None)
    assert "card-velocity-1m" in profile.episodes
    # The job restarts with a catalogue without that rule: the first
    # transaction forgets its episode.
    tx = s.tx(40)
    assert bundled_without("card-velocity-1m").card(profile, tx, tx.event_ms, None) == []
    assert "card-velocity-1m" not in profile.episodes
    # Back again, the rule starts a new episode, though still in the cool-down.
    tx = s.tx(41)
    alerts = engine.card(profile, tx, tx.event_ms, None)
    assert [(a.alert_id, a.hits) for a in alerts] == [(alert_id("card-velocity-1m", "A-10"), 1)]


def test_long_episode_evidence_is_capped() -> None:
    engine = engine_of(
        [{"id": "v", "type": "card_velocity", "params": {"window_seconds": 3600, "limit": 1}}]
    )
    s = Stream()
    alerts = run(engine, [s.tx(i) for i in range(80)])
    last = alerts[-1]
    assert last.hits == 79
    assert len(last.evidence) == MAX_EVIDENCE
    # The first ids and the latest one are kept.
    assert last.evidence[0] == "A-1"
    assert last.evidence[-1] == "A-80" == last.last_transaction_id


def test_alert_fields() -> None:
    engine = bundled_without("risk-score")
    tx = Stream().tx(3, 9000.0, merchant="Big Store", currency="EUR", country="FR", user=7)
    (alert,) = engine.card(CardProfile(), tx, ms(4), None)
    assert alert == Alert(
        alert_id=alert_id("high-amount", "A-1"),
        rule_id="high-amount",
        rule_type="high_amount",
        severity="high",
        score=round(1 - 0.5 * 5000 / 9000, 4),
        reason=f"amount 9000.00 EUR on card {MASKED} is above the limit of 5000.00 EUR",
        transaction_id="A-1",
        card_masked=MASKED,
        card_token="tok-A",
        bank_id="BANK_A",
        user_id=7,
        amount=9000.0,
        currency="EUR",
        merchant="Big Store",
        country="FR",
        payment_system="VISA",
        event_time="2025-12-16T10:00:03.000Z",
        detected_at="2025-12-16T10:00:04.000Z",
        evidence=("A-1",),
        hits=1,
        last_transaction_id="A-1",
        case_id=alert_id("high-amount", "A-1"),
    )
    assert Alert.from_dict(json.loads(alert_json(alert))) == alert


def test_user_rules_run_on_the_user_profile() -> None:
    engine = Engine(load_catalogue(packs=["seed-baseline"]))
    s = Stream()
    # Six purchases by one user on three cards within two minutes.
    txs = [s.tx(i, card="ABC"[i % 3], user=42) for i in range(6)]
    users: dict[int, UserProfile] = {}
    alerts = run(engine, txs, users=users)
    assert [(a.rule_id, a.transaction_id) for a in alerts] == [("seed-user-velocity", "C-2")]
    assert alerts[0].evidence == ("A-1", "B-1", "C-1", "A-2", "B-2", "C-2")
    assert set(users) == {42}


# -- determinism -----------------------------------------------------------------


def mixed_stream() -> list[Tx]:
    s = Stream()
    txs = burst(s, 0, 9)
    txs += [s.tx(100 + i, 1, card="B", user=2) for i in range(3)]
    txs.append(s.tx(110, 400, card="B", user=2))
    txs += [
        s.tx(120 + i, 30, card="C", user=3, country=c) for i, c in enumerate(("US", "FR", "JP"))
    ]
    txs.append(s.tx(60, 9000, card="C", user=3, country="BR"))  # late
    txs += [s.tx(300 + i, 25, card="D", user=4) for i in range(5)]
    txs.append(s.tx(310, 2500, card="D", user=4))
    return txs


def alerts_of(txs: list[Tx]) -> tuple[list[Alert], dict[str, Any]]:
    # Every rule raises what it finds: none defers to another's alert.
    bundled = load_catalogue(packs=["seed-baseline"])
    rules = tuple(r.model_copy(update={"defer": False}) for r in bundled.rules)
    engine = Engine(bundled.model_copy(update={"rules": rules}))
    alerts = run(engine, txs, blocklist={("merchant", "Nowhere"): "unused"})
    return alerts, vars(engine.counters)


def test_same_input_gives_the_same_alerts() -> None:
    first, counters = alerts_of(mixed_stream())
    second, again = alerts_of(mixed_stream())
    assert first == second
    assert counters == again
    # Each scope counts what it evaluates: the late transaction is late for its
    # card and for its user; it is no probe, so no merchant rule admits it.
    assert counters["transactions"] == len(mixed_stream())
    assert counters["out_of_order"] == 2
    assert {a.rule_id for a in first} >= {
        "card-velocity-1m",
        "card-testing",
        "impossible-travel",
        "country-hopping",
        "high-amount",
        "seed-high-amount",
        "seed-user-velocity",
        "seed-user-countries",
        "amount-spike",
    }
    # Alert ids are md5(rule_id:transaction_id) of each episode's first hit.
    assert all(a.alert_id == alert_id(a.rule_id, a.transaction_id) for a in first)
