from __future__ import annotations

import pytest

from fraudstream.records import luhn_check_digit, luhn_valid, network_of
from fraudstream.simulator.population import (
    bank_iins,
    card_number,
    distance_km,
    make_population,
    make_user,
    travel_hours,
)


@pytest.mark.parametrize("partial", ["7992739871", "411111111111111", "37828224631000"])
def test_check_digit_makes_the_number_luhn_valid(partial: str) -> None:
    assert luhn_valid(partial + luhn_check_digit(partial))


def test_known_check_digit() -> None:
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.parametrize("bank", ["BANK_A", "BANK_B", "X", "some-bank_9"])
def test_every_network_gets_a_correct_prefix_and_length(bank: str) -> None:
    import random

    rng = random.Random(1)
    iins = bank_iins(bank)
    for network, iin in iins.items():
        assert len(iin) == 6
        number = card_number(iin, network, 1234, 0, rng)
        assert luhn_valid(number)
        assert network_of(number) == network
    assert iins["VISA"].startswith("4")
    assert iins["AMEX"][:2] in ("34", "37")
    mc = iins["MASTERCARD"]
    assert 51 <= int(mc[:2]) <= 55 or 2221 <= int(mc[:4]) <= 2720


def test_population_cards_are_valid_and_match_payment_system() -> None:
    users = make_population(7, "BANK_A", 1000, 1999, {"US": 1.0, "CA": 1.0})
    assert [u.user_id for u in users] == list(range(1000, 2000))
    numbers = [c.number for u in users for c in u.cards]
    assert len(numbers) == len(set(numbers))
    systems = {c.payment_system for u in users for c in u.cards}
    assert systems == {"VISA", "MasterCard", "AMEX"}  # as the published format spells them
    for u in users:
        assert 1 <= len(u.cards) <= 3
        assert u.home in ("US", "CA")
        for c in u.cards:
            assert luhn_valid(c.number)
            assert network_of(c.number) == c.payment_system.upper()
            assert len(c.number) == (15 if c.payment_system == "AMEX" else 16)
    assert 0.01 < sum(u.traveller for u in users) / len(users) < 0.1


def test_users_do_not_depend_on_the_partition() -> None:
    whole = make_population(3, "B", 10, 40, {"DE": 1.0})
    parts = [make_population(3, "B", 10, 40, {"DE": 1.0}, part=p, parts=3) for p in range(3)]
    assert sorted((u for p in parts for u in p), key=lambda u: u.user_id) == whole
    assert make_user(3, "B", 11, {"DE": 1.0}) == whole[1]
    assert make_user(4, "B", 11, {"DE": 1.0}) != whole[1]


def test_distances_and_travel_times() -> None:
    assert distance_km("US", "US") == 0
    assert 6500 < distance_km("US", "GB") < 7200  # centroids, as the rules measure
    assert travel_hours("FR", "DE") >= 2.0
    assert travel_hours("US", "AU") > 15
