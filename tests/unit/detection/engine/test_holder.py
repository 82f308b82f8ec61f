"""One user's profiles as the job keeps them (engine/holder.py): the card and
user profiles under one user id, forgotten after the engine's time-to-live,
at most MAX_CARDS cards."""

from __future__ import annotations

import pickle

from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.holder import MAX_CARDS, UserProfiles
from fraudstream.detection.engine.profile import CardProfile, UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import Catalogue, load_catalogue, parse_catalogue
from fraudstream.records import Alert

from ..rules.conftest import Stream

VELOCITY = {"rules": [{"id": "v", "type": "card_velocity", "params": {"limit": 2}}]}


class Job:
    """Stores the holder between transactions as the job's state does (pickled)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.engine = Engine(catalogue)
        self.state: bytes | None = None

    @property
    def holder(self) -> UserProfiles:
        return UserProfiles.from_state(pickle.loads(self.state) if self.state else None)

    def feed(self, txs: list[Tx]) -> list[Alert]:
        alerts: list[Alert] = []
        for tx in txs:
            holder = self.holder
            alerts += holder.feed_card(self.engine, tx, tx.ingested_ms)
            alerts += holder.feed_user(self.engine, tx, tx.ingested_ms)
            self.state = pickle.dumps(holder.to_state())
        return alerts


def test_each_card_keeps_its_own_profile_under_the_user() -> None:
    job = Job(parse_catalogue(VELOCITY))
    s = Stream()
    # Two cards, two transactions each within a minute: neither exceeds 2.
    txs = [s.tx(i, card="AB"[i % 2]) for i in range(4)]
    assert job.feed(txs) == []
    assert set(job.holder.cards) == {"tok-A", "tok-B"}
    assert job.holder.user is None  # no user-scope rule: nothing kept for the user
    # A third on card A within the minute fires.
    assert [a.rule_id for a in job.feed([s.tx(5, card="A")])] == ["v"]


def test_a_card_unseen_past_the_time_to_live_starts_afresh_and_is_dropped() -> None:
    job = Job(parse_catalogue(VELOCITY))
    s = Stream()
    job.feed([s.tx(0, card="A"), s.tx(1, card="A")])
    ttl_ms = job.engine.ttl_s * 1000
    clock = s.txs[-1].ingested_ms
    assert job.holder.card("tok-A", clock + 1000, ttl_ms).seen == 2
    assert job.holder.card("tok-A", clock + ttl_ms + 1, ttl_ms).seen == 0
    job.feed([s.tx(job.engine.ttl_s + 10, card="B")])
    assert set(job.holder.cards) == {"tok-B"}


def test_at_most_max_cards_the_least_recently_used_goes_first() -> None:
    job = Job(parse_catalogue(VELOCITY))
    s = Stream()
    cards = [f"c{i}" for i in range(MAX_CARDS + 2)]
    job.feed([s.tx(i, card=c) for i, c in enumerate(cards)])
    assert len(job.holder.cards) == MAX_CARDS
    assert "tok-c0" not in job.holder.cards and "tok-c1" not in job.holder.cards
    # Using a card moves it to the back of the queue.
    job.feed([s.tx(100, card="c2"), s.tx(101, card="new")])
    assert "tok-c2" in job.holder.cards and "tok-c3" not in job.holder.cards


def test_the_user_profile_is_kept_when_user_rules_are_enabled() -> None:
    job = Job(load_catalogue(packs=["seed-baseline"]))
    s = Stream()
    alerts = job.feed([s.tx(i, card="ABC"[i % 3], user=42) for i in range(6)])
    assert "seed-user-velocity" in {a.rule_id for a in alerts}
    assert job.holder.user is not None


def test_a_state_of_another_version_starts_empty() -> None:
    assert UserProfiles.from_state((99, {}, None, 0)).cards == {}
    assert UserProfiles.from_state(None).user is None


def test_a_card_rule_that_reads_the_user_keeps_the_user_profile() -> None:
    # The risk score alone: no user-scope rule, yet it reads the user's
    # amounts over all their cards, so the user's profile is kept.
    risk = {"rules": [{"id": "r", "type": "risk_score", "params": {"threshold": 0.99}}]}
    job = Job(parse_catalogue(risk))
    assert job.engine.card_reads_user and not job.engine.has_user_rules
    s = Stream()
    job.feed([s.tx(i * 60, 20.0 + i, card="AB"[i % 2], user=7) for i in range(4)])
    holder = job.holder
    assert holder.user is not None
    user = UserProfile.from_state(holder.user)
    assert user.amounts == [20.0, 21.0, 22.0, 23.0]
    assert len(user.amount_categories) == 4
    # The card's stored state does not carry the user's profile with it.
    card = CardProfile.from_state(holder.cards["tok-A"][0])
    assert card.user is None and card.amounts == [20.0, 22.0]


def test_a_catalogue_without_such_rules_keeps_no_user_profile() -> None:
    job = Job(parse_catalogue(VELOCITY))
    assert not job.engine.card_reads_user and not job.engine.keeps_users
    s = Stream()
    job.feed([s.tx(0), s.tx(1)])
    assert job.holder.user is None
