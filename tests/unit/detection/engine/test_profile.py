"""Card and user profiles: bounded by Sizes, tolerant of late records, and
stored as plain tuples that survive pickling (Flink keeps them pickled)."""

from __future__ import annotations

import pickle
import uuid

import pytest

from fraudstream.detection.engine.engine import CASE_KEY, Engine
from fraudstream.detection.engine.profile import (
    RECENT_IDS,
    STATE_VERSION,
    CardProfile,
    Sizes,
    UserProfile,
)
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import load_catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.card_velocity import CardVelocityParams
from fraudstream.detection.rules.types.card_velocity import evaluate as velocity
from fraudstream.detection.rules.types.country_hopping import CountryHoppingParams
from fraudstream.detection.rules.types.country_hopping import evaluate as hopping

from ..rules.conftest import Stream, ms, profile_of

SIZES = Sizes(times=5, amounts=4, smalls=3, small_max=5.0, country_window_s=60, window_s=60)


def fields(profile: CardProfile) -> dict[str, object]:
    return {name: getattr(profile, name) for name in CardProfile.__slots__}


def test_sizes_merge_takes_the_largest_of_each() -> None:
    a = Sizes(times=5, amounts=20, small_max=5.0, window_s=60)
    b = Sizes(times=60, smalls=6, small_max=20.0, country_window_s=3600, window_s=3600)
    assert a.merge(b) == Sizes(
        times=60, amounts=20, smalls=6, small_max=20.0, country_window_s=3600, window_s=3600
    )
    assert Sizes().merge(a) == a


def test_empty_sizes_keep_only_the_last_transaction_and_recent_ids() -> None:
    s = Stream()
    profile = profile_of([s.tx(i, 1, country="FR") for i in range(30)], Sizes())
    assert (profile.times, profile.amounts, profile.smalls, profile.countries) == ([], [], [], {})
    assert profile.seen == 30
    assert (profile.last_ms, profile.last_country, profile.last_id) == (ms(29), "FR", "A-30")
    assert len(profile.recent) == RECENT_IDS
    assert profile.recent[-1] == (ms(29), "A-30")


def test_history_never_exceeds_sizes() -> None:
    s = Stream()
    countries = ("US", "FR", "DE", "JP", "BR")
    profile = CardProfile()
    for i in range(200):
        # A small run that keeps growing, broken now and then by a mid amount.
        amount = 50.0 if i % 37 == 0 else 1.0
        profile.update(s.tx(i, amount, country=countries[i % 5]), SIZES)
        assert len(profile.times) <= SIZES.times
        assert len(profile.amounts) <= SIZES.amounts
        assert len(profile.smalls) <= SIZES.smalls
        assert len(profile.recent) <= RECENT_IDS
        assert profile.times == sorted(profile.times)
    assert profile.times == [ms(i) for i in range(195, 200)]
    assert profile.amounts == [1.0] * 4
    assert [tid for _, tid, _ in profile.smalls] == ["A-198", "A-199", "A-200"]


def test_countries_are_pruned_beyond_the_window() -> None:
    s = Stream()
    profile = profile_of(
        [s.tx(0, country="US"), s.tx(30, country="FR"), s.tx(121, country="DE")], SIZES
    )
    # US was last seen 121 s before the latest transaction: beyond two 60 s
    # windows (one is kept for late records).
    assert profile.countries == {"FR": ms(30), "DE": ms(121)}
    profile.update(s.tx(200, country="DE"), SIZES)
    assert profile.countries == {"DE": ms(200)}
    # The only country left stays, however old: it is the card's current one.
    profile.update(s.tx(10_000, country="DE"), SIZES)
    assert profile.countries == {"DE": ms(10_000)}


def test_small_run_is_reset_by_a_larger_amount() -> None:
    s = Stream()
    profile = profile_of([s.tx(0, 1), s.tx(1, 5), s.tx(2, 5.01)], SIZES)
    assert profile.smalls == []
    profile.update(s.tx(3, 2), SIZES)
    assert profile.smalls == [(ms(3), "A-4", 2)]


def test_count_since_is_exclusive_at_the_start_inclusive_at_the_end() -> None:
    s = Stream()
    profile = profile_of([s.tx(0), s.tx(10), s.tx(10), s.tx(20)], SIZES)
    assert profile.count_since(ms(0), ms(20)) == 3
    assert profile.count_since(ms(0) - 1, ms(20)) == 4
    assert profile.count_since(ms(0), ms(10)) == 2
    assert profile.ids_since(ms(0), ms(10)) == ["A-2", "A-3"]


# -- out of order ----------------------------------------------------------------


def test_late_record_is_inserted_in_time_order_and_last_does_not_go_back() -> None:
    s = Stream()
    profile = profile_of([s.tx(100, country="US"), s.tx(110, country="US")], SIZES)
    late = s.tx(100.5, country="FR")  # 9.5 s behind the card's latest
    assert profile.update(late, SIZES) is True
    assert profile.times == [ms(100), ms(100.5), ms(110)]
    assert (profile.last_ms, profile.last_country, profile.last_id) == (ms(110), "US", "A-2")
    assert profile.seen == 3
    # Recent ids are kept by arrival; the window filter still finds it.
    assert profile.recent[-1] == (ms(100.5), "A-3")
    assert profile.ids_since(ms(100), ms(101)) == ["A-3"]
    assert profile.countries["FR"] == ms(100.5)
    # The same event time as the latest is not late.
    assert profile.update(s.tx(110), SIZES) is False


def test_late_record_is_evaluated_and_counted_in_later_windows() -> None:
    params = CardVelocityParams(window_seconds=60, limit=2)
    sizes = Sizes(times=2, window_s=60)
    s = Stream()
    profile = profile_of([s.tx(0), s.tx(20)], sizes)
    late = s.tx(10)  # 10 s behind the card's latest
    # Evaluated against what the profile holds at or before its own time.
    assert velocity(params, profile, late) is None
    assert profile.update(late, sizes) is True
    assert profile.times == [ms(10), ms(20)]
    # The next transaction sees it in its window: 3 before it, 4 with it.
    finding = velocity(params, profile, s.tx(30))
    assert finding is not None
    assert finding.reason.startswith("3 transactions in 60 s")
    assert finding.evidence == ("A-1", "A-2", "A-3", "A-4")


def test_late_record_inside_a_burst_fires_velocity() -> None:
    params = CardVelocityParams(window_seconds=60, limit=2)
    sizes = REGISTRY["card_velocity"].sizes(params)
    s = Stream()
    profile = profile_of([s.tx(0), s.tx(8), s.tx(12)], sizes)
    # 3 s behind the latest: its window (-51 s, 9 s] holds 0 s and 8 s, 3 with it > 2.
    assert velocity(params, profile, s.tx(9)) is not None


def test_late_record_inside_a_hop_fires_country_hopping() -> None:
    params = CountryHoppingParams(window_seconds=60, limit=2)
    sizes = REGISTRY["country_hopping"].sizes(params)
    s = Stream()
    profile = profile_of(
        [s.tx(0, country="US"), s.tx(10, country="FR"), s.tx(65, country="FR")], sizes
    )
    # 10 s late: its window (-5 s, 55 s] holds US and FR, DE makes 3 > 2.
    assert hopping(params, profile, s.tx(55, country="DE")) is not None


def test_out_of_order_through_the_engine_is_counted_not_dropped() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    profile = CardProfile()
    txs = [s.tx(0), s.tx(20), s.tx(10), s.tx(30)]
    for tx in txs:
        engine.card(profile, tx, tx.event_ms, None)
    assert engine.counters.transactions == 4
    assert engine.counters.out_of_order == 1
    assert profile.last_ms == ms(30)
    assert profile.times == [ms(0), ms(10), ms(20), ms(30)]


def test_user_profile_late_window_is_not_counted() -> None:
    s = Stream()
    profile = UserProfile()
    assert profile.update(s.tx(0), (120,)) is False
    assert profile.update(s.tx(130), (120,)) is False
    assert profile.update(s.tx(5), (120,)) is True
    index = ms(130) // 120_000
    assert profile.window(120, index).count == 1
    # A window that is not the current one reads as empty.
    assert profile.window(120, index - 1).count == 0
    assert profile.window(3600, 0).ids == ()


def test_user_profile_window_ids_are_bounded() -> None:
    s = Stream()
    profile = UserProfile()
    for i in range(25):
        profile.update(s.tx(i, country="FR" if i % 2 else "US"), (120, 3600))
    window = profile.window(3600, ms(0) // 3_600_000)
    assert window.count == 25
    assert window.countries == frozenset({"US", "FR"})
    assert len(window.ids) == RECENT_IDS and window.ids[-1] == "A-25"


# -- state -----------------------------------------------------------------------


def busy_card(stream: Stream, n: int, countries: tuple[str, ...]) -> list[Tx]:
    """n transactions a minute apart with real UUIDs, as banks send them."""
    txs = []
    for i in range(n):
        tx = stream.tx(i * 60, 20.0 + i % 7, country=countries[i % len(countries)])
        txs.append(tx._replace(transaction_id=str(uuid.UUID(int=i + 1))))
    return txs


def test_state_round_trip_through_pickle() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    profile = CardProfile()
    for tx in [*busy_card(s, 12, ("US", "FR")), s.tx(800, 1), s.tx(801, 1)]:
        engine.card(profile, tx, tx.event_ms, None)
    state = pickle.loads(pickle.dumps(profile.to_state()))
    assert state[0] == STATE_VERSION
    restored = CardProfile.from_state(state)
    assert fields(restored) == fields(profile)
    # Both give the same verdict on the next transaction.
    nxt = s.tx(802, 500)
    assert engine.card(restored, nxt, 0, None) == engine.card(profile, nxt, 0, None)
    assert fields(restored) == fields(profile)


def test_user_state_round_trip() -> None:
    s = Stream()
    profile = UserProfile()
    for i in range(3):
        profile.update(s.tx(i, country="FR"), (120, 3600))
    restored = UserProfile.from_state(pickle.loads(pickle.dumps(profile.to_state())))
    assert restored.windows == profile.windows
    assert restored.episodes == profile.episodes


@pytest.mark.parametrize("state", [None, (STATE_VERSION + 1, 5, 123, "US", "x")])
def test_missing_or_unknown_state_gives_an_empty_profile(state: tuple[object, ...] | None) -> None:
    profile = CardProfile.from_state(state)
    assert fields(profile) == fields(CardProfile())
    user = UserProfile.from_state(state)
    assert (user.windows, user.episodes) == ({}, {})


def test_state_size_stays_small() -> None:
    engine = Engine(load_catalogue())
    s = Stream()
    # A card at the bundled hourly velocity limit (60 an hour, a minute apart,
    # so no rule fires and no episode is kept) in five countries.
    busy = CardProfile()
    for tx in busy_card(s, 60, ("US", "CA", "MX", "FR", "DE")):
        busy.update(tx, engine.sizes)
    assert len(busy.countries) == 5
    # Measured (Python 3.11, default pickle protocol 4, UUID ids): 1325 bytes
    # for the busy card, 303 for a quiet one with three transactions.
    assert len(pickle.dumps(busy.to_state())) < 4096
    quiet = CardProfile()
    for tx in busy_card(Stream(), 3, ("US",)):
        quiet.update(tx, engine.sizes)
    assert len(pickle.dumps(quiet.to_state())) < 600


def test_state_size_with_open_episodes_stays_bounded() -> None:
    # Each open episode keeps its whole alert (up to MAX_EVIDENCE ids), so a
    # card firing several rules at once is the largest profile there is.
    bundled = load_catalogue()
    # The risk score at a low threshold, so it too keeps an open episode.
    # None defers: every rule that fires keeps its episode.
    rules = tuple(
        r.model_copy(update={"params": {**r.params, "threshold": 0.01}, "defer": False})
        if r.type == "risk_score"
        else r.model_copy(update={"defer": False})
        for r in bundled.rules
    )
    engine = Engine(bundled.model_copy(update={"rules": rules}))
    s = Stream()
    profile = CardProfile()
    user = UserProfile()
    countries = ("US", "JP", "BR", "AU", "FR")
    for i in range(120):
        tx = s.tx(i * 20, 1 if i % 4 else 900, country=countries[i % 5])
        tx = tx._replace(transaction_id=str(uuid.UUID(int=i + 1)))
        profile.user = user  # the risk score reads the user's profile too
        engine.card(profile, tx, tx.event_ms, None)
        engine.user(user, tx, tx.event_ms)
    # The open case is the user's (all their cards share it).
    assert CASE_KEY in user.episodes
    assert sorted(profile.episodes) == [
        "card-testing",
        "card-velocity-1h",
        "country-hopping",
        "impossible-travel",
        "risk-score",
    ]
    # Measured: 7559 bytes with five episodes (about 1.5-2.3 KB each at 50
    # evidence ids) and the risk score's habits.
    assert len(pickle.dumps(profile.to_state())) < 8192


def test_amount_categories_round_trip_and_older_states_load() -> None:
    s = Stream()
    profile = CardProfile()
    user = UserProfile()
    sizes = Sizes(amounts=3)
    for i, category in enumerate(("5411", "5732", "5411", "5999")):
        tx = s.tx(i, 10.0 + i, category=category)
        profile.update(tx, sizes)
        user.update(tx, (), sizes)
    # Bounded like the amounts, one category per amount.
    assert profile.amounts == [11.0, 12.0, 13.0]
    assert profile.amount_categories == ["5732", "5411", "5999"]
    assert user.amount_categories == ["5732", "5411", "5999"]
    again = CardProfile.from_state(profile.to_state())
    assert again.amount_categories == profile.amount_categories and again.user is None
    assert UserProfile.from_state(user.to_state()).amount_categories == user.amount_categories
    # A state written before the categories loads with none (amounts kept).
    old = CardProfile.from_state(profile.to_state()[:15])
    assert old.amounts == profile.amounts and old.amount_categories == []
    old_user = UserProfile.from_state(user.to_state()[:8])
    assert old_user.amounts == user.amounts and old_user.amount_categories == []
