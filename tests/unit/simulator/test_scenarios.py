from __future__ import annotations

import random

import pytest

from fraudstream.records import parse_transaction
from fraudstream.simulator import scenarios
from fraudstream.simulator.population import (
    CATEGORIES,
    HIGH_RISK_MCCS,
    distance_km,
    make_user,
)
from fraudstream.simulator.rows import Timestamps, encode, to_transaction

START = 1_760_000_000.0


def _run(name: str, seed: int) -> list[tuple[tuple, scenarios.Label]]:  # type: ignore[type-arg]
    user = make_user(seed, "BANK_A", 1000 + seed, {"US": 1.0, "DE": 1.0})
    card = user.cards[0]
    return scenarios.build(name, random.Random(seed), user, card, START)


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
        assert row[3] == card
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
    user_home = make_user(seed, "BANK_A", 1000 + seed, {"US": 1.0, "DE": 1.0}).home
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
    typical = make_user(seed, "BANK_A", 1000 + seed, {"US": 1.0, "DE": 1.0}).typical_amount
    assert 10 * typical <= row[5] + 0.01
    assert row[5] <= min(20 * typical, scenarios.ABSOLUTE_LIMIT) + 0.01
    assert label.is_trigger


@pytest.mark.parametrize("seed", range(40))
def test_account_takeover_shape(seed: int) -> None:
    out = _run("account_takeover", seed)
    user = make_user(seed, "BANK_A", 1000 + seed, {"US": 1.0, "DE": 1.0})
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
