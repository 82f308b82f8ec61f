from __future__ import annotations

import itertools
import random

import pytest

from fraudstream.records import parse_transaction
from fraudstream.simulator import scenarios
from fraudstream.simulator.population import (
    CATEGORIES,
    HIGH_RISK_MCCS,
    UNUSUAL_MCCS,
    WEB_SHOP_MCC,
    User,
    distance_km,
    make_user,
    travel_hours,
)
from fraudstream.simulator.rows import Timestamps, encode, to_transaction

START = 1_760_000_000.0


def _users(seed: int, n: int = 30) -> list[User]:
    """A victim with two cards or more, and ``n - 1`` neighbours."""
    users = [
        make_user(seed, "BANK_A", 1000 + seed * 100 + i, {"US": 1.0, "DE": 1.0}, shared_share=1.0)
        for i in range(n)
    ]
    return users


def _run(name: str, seed: int) -> list[tuple[tuple, scenarios.Label]]:  # type: ignore[type-arg]
    users = _users(seed)
    return scenarios.build(name, random.Random(seed), users, users[0].cards[0], START)


def _victim(seed: int) -> User:
    return _users(seed, 1)[0]


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
@pytest.mark.parametrize("seed", range(25))
def test_labels_name_the_transactions_in_order(name: str, seed: int) -> None:
    out = _run(name, seed)
    ids = tuple(row[0] for row, _ in out)
    assert len(set(ids)) == len(ids)
    triggers = [label for _, label in out if label.is_trigger]
    assert len(triggers) == 1
    card = out[0][0][3]
    times = [row[9] for row, _ in out]
    assert times == sorted(times) and times[0] == START
    stamp = Timestamps()
    for index, (row, label) in enumerate(out):
        assert label.transaction_id == row[0]
        assert label.transaction_ids == ids
        assert label.step == index + 1
        assert label.scenario == name
        assert label.scenario_id == out[0][1].scenario_id
        spec = scenarios.SCENARIOS[name]
        if (spec.users == 1 and spec.min_cards == 1) or name == "amount_spike":
            assert row[3] == card  # one card
        assert set(label.to_dict()) == {
            "transaction_id",
            "scenario_id",
            "scenario",
            "step",
            "is_trigger",
            "bank_id",
        }
        parse_transaction(encode(row, stamp), now=None)
        assert to_transaction(row).transaction_id == row[0]


def _amounts_times(out: list) -> tuple[list[float], list[float]]:  # type: ignore[type-arg]
    return [row[5] for row, _ in out], [row[9] - START for row, _ in out]


@pytest.mark.parametrize("seed", range(40))
def test_card_testing_shape(seed: int) -> None:
    out = _run("card_testing", seed)
    amounts, times = _amounts_times(out)
    assert 4 <= len(out) <= 7
    assert all(a < scenarios.TINY_AMOUNT for a in amounts[:-1])
    assert 800 <= amounts[-1] <= 2500
    assert len({row[7] for row, _ in out[:-1]}) == len(out) - 1  # different merchants
    assert times[-1] <= 150
    assert out[-1][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_impossible_travel_shape(seed: int) -> None:
    out = _run("impossible_travel", seed)
    (home, _), (far, _) = out
    user_home = _victim(seed).home
    assert home[8] == user_home
    assert distance_km(home[8], far[8]) >= scenarios.FAR_KM
    assert 120 <= far[9] - home[9] <= 900
    assert out[1][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_velocity_burst_shape(seed: int) -> None:
    out = _run("velocity_burst", seed)
    _, times = _amounts_times(out)
    assert len(out) >= scenarios.BURST_MIN
    assert times[-1] < scenarios.BURST_WINDOW_S
    assert out[scenarios.BURST_MIN - 1][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_amount_spike_shape(seed: int) -> None:
    ((row, label),) = _run("amount_spike", seed)
    typical = _victim(seed).typical_amount
    assert 10 * typical <= row[5] + 0.01
    assert row[5] <= min(20 * typical, scenarios.ABSOLUTE_LIMIT) + 0.01
    assert label.is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_account_takeover_shape(seed: int) -> None:
    out = _run("account_takeover", seed)
    user = _victim(seed)
    for row, _ in out:
        assert row[8] != user.home
        assert row[10] not in user.categories
        assert 1000 <= row[5] <= 4800
    assert out[0][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_high_risk_merchant_shape(seed: int) -> None:
    out = _run("high_risk_merchant", seed)
    assert 2 <= len(out) <= 4
    for row, _ in out:
        assert row[10] in HIGH_RISK_MCCS
        assert CATEGORIES[row[10]].high_risk


def test_ids_are_uuid4() -> None:
    import uuid

    value = scenarios.new_id(random.Random(5))
    assert uuid.UUID(value).version == 4


@pytest.mark.parametrize("seed", range(40))
def test_multi_card_spree_spreads_over_the_cards(seed: int) -> None:
    out = _run("multi_card_spree", seed)
    victim = _victim(seed)
    cards = [row[3] for row, _ in out]
    assert 6 <= len(out) <= 10
    assert set(cards) == {c.number for c in victim.cards}
    # no card twice in a row: each card alone stays quiet
    assert all(a != b for a, b in itertools.pairwise(cards))
    for row, _ in out:
        assert row[4] == victim.user_id and row[11] == "online" and row[8] == victim.home
        assert 1.5 * victim.typical_amount - 0.01 <= row[5] <= 4 * victim.typical_amount + 0.01
    gaps = [b[0][9] - a[0][9] for a, b in itertools.pairwise(out)]
    assert all(20 <= g <= 90 for g in gaps)
    assert out[3][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_card_enumeration_tries_consecutive_users_at_one_shop(seed: int) -> None:
    users = _users(seed)
    out = scenarios.build("card_enumeration", random.Random(seed), users, users[0].cards[0], START)
    assert 10 <= len(out) <= scenarios.ENUMERATION_MAX
    assert [row[4] for row, _ in out] == [u.user_id for u in users[: len(out)]]
    assert [row[3] for row, _ in out] == [u.cards[0].number for u in users[: len(out)]]
    assert len({row[7] for row, _ in out}) == 1
    for row, _ in out:
        assert row[10] == WEB_SHOP_MCC and row[11] == "online" and 0.5 <= row[5] < 3
    gaps = [b[0][9] - a[0][9] for a, b in itertools.pairwise(out)]
    assert all(3 <= g <= 15 for g in gaps)
    assert out[4][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_stealth_takeover_stays_under_single_rule_limits(seed: int) -> None:
    out = _run("stealth_takeover", seed)
    victim = _victim(seed)
    assert 2 <= len(out) <= 3
    for row, _ in out:
        assert row[8] == victim.home  # no new country
        assert row[10] in (*UNUSUAL_MCCS, WEB_SHOP_MCC) and row[10] not in victim.categories
        assert row[5] <= scenarios.SPIKE_FACTOR_MAX * victim.typical_amount + 0.01
        assert row[5] < scenarios.ABSOLUTE_LIMIT
    gaps = [b[0][9] - a[0][9] for a, b in itertools.pairwise(out)]
    assert all(300 <= g <= 1800 for g in gaps)
    assert out[0][1].is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_slow_card_testing_spreads_over_tens_of_minutes(seed: int) -> None:
    out = _run("slow_card_testing", seed)
    amounts, times = _amounts_times(out)
    assert 5 <= len(out) <= 8
    assert all(a < scenarios.TINY_AMOUNT for a in amounts[:-1])
    assert 300 <= amounts[-1] <= 1500
    assert len({row[7] for row, _ in out[:-1]}) == len(out) - 1
    assert times[-2] >= 360  # past a 5-minute card-testing window
    assert times[-1] <= 3200
    assert out[-1][1].is_trigger


@pytest.mark.parametrize("name", sorted(scenarios.LOOKALIKES))
@pytest.mark.parametrize("seed", range(20))
def test_lookalikes_are_honest_and_valid(name: str, seed: int) -> None:
    users = _users(seed)
    rows = scenarios.build_lookalike(name, random.Random(seed), users, users[0].cards[0], START)
    assert rows
    times = [row[9] for row in rows]
    assert times == sorted(times)
    stamp = Timestamps()
    for row in rows:
        parse_transaction(encode(row, stamp), now=None)
    assert scenarios.build(name, random.Random(seed), users, users[0].cards[0], START) == []


@pytest.mark.parametrize("seed", range(20))
def test_shared_account_uses_own_merchants_across_cards(seed: int) -> None:
    users = _users(seed)
    rows = scenarios.build_lookalike(
        "shared_account", random.Random(seed), users, users[0].cards[0], START
    )
    assert len({row[3] for row in rows}) >= 2
    own = {m for _, m in users[0].merchants}
    assert all(row[7].strip('"') in own for row in rows)


@pytest.mark.parametrize("seed", range(20))
def test_weekend_trip_gap_is_plausible(seed: int) -> None:
    users = _users(seed)
    rows = scenarios.build_lookalike(
        "weekend_trip", random.Random(seed), users, users[0].cards[0], START
    )
    home, abroad = rows[0], rows[1]
    assert home[8] == users[0].home != abroad[8]
    assert abroad[9] - home[9] >= travel_hours(home[8], abroad[8]) * 3600


@pytest.mark.parametrize("seed", range(20))
def test_flash_sale_many_cards_one_shop_ordinary_amounts(seed: int) -> None:
    users = _users(seed)
    rows = scenarios.build_lookalike(
        "flash_sale", random.Random(seed), users, users[0].cards[0], START
    )
    assert len({row[4] for row in rows}) >= 2 and len(rows) >= 12
    assert len({row[7] for row in rows}) == 1
    assert all(5 <= row[5] <= 80 for row in rows)


def test_lookalike_traits_leave_other_traits_alone() -> None:
    plain = make_user(3, "BANK_A", 1234, {"US": 1.0})
    with_traits = make_user(3, "BANK_A", 1234, {"US": 1.0}, shared_share=1.0, big_spender_share=1.0)
    assert with_traits.home == plain.home and with_traits.cards[0] == plain.cards[0]
    assert with_traits.shared and with_traits.big_spender and len(with_traits.cards) >= 2
    assert 300 <= with_traits.typical_amount <= 900
    assert set(UNUSUAL_MCCS) <= set(with_traits.categories)
