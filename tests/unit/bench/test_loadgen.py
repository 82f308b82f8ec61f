from __future__ import annotations

import json

from fraudstream.bench.loadgen import LoadShape, TransactionFactory, card_number
from fraudstream.records import luhn_check_digit, luhn_valid, network_of, parse_transaction


def test_card_numbers_are_valid_visa_and_stable() -> None:
    for index in (0, 1, 42, 199_999, 10**15 + 3):
        number = card_number(index)
        assert luhn_valid(number)
        assert network_of(number) == "VISA"
        assert card_number(index) == number
    assert luhn_check_digit("7992739871") == "3"


def test_factory_makes_contract_valid_transactions() -> None:
    factory = TransactionFactory(LoadShape(bank_id="BENCH_x", alert_every=4, alert_amount=10001))
    made = [factory.make() for _ in range(400)]
    flagged = [m for m in made if m[3]]
    assert len(flagged) == 100
    countries: dict[bytes, set[str]] = {}
    for tx_id, key, value, alert in made:
        tx = parse_transaction(value)
        assert tx.transaction_id == tx_id
        assert tx.bank_id == "BENCH_x"
        assert key.decode() == str(tx.user_id)  # keyed by user: no card number in the key
        assert (tx.amount == 10001) == alert
        countries.setdefault(key, set()).add(tx.country)
    # A card never changes country, so geography rules see no travel.
    assert all(len(c) == 1 for c in countries.values())
    assert len({json.loads(v)["transaction_id"] for _, _, v, _ in made}) == 400


def test_trigger_sequences_run_on_cards_of_their_own() -> None:
    from fraudstream.bench.triggers import cycle, sequences
    from fraudstream.detection.rules import load_catalogue

    catalogue = load_catalogue()
    recipes = sequences(catalogue)
    assert {s.rule_type for s in recipes} >= {
        "high_amount",
        "card_velocity",
        "amount_spike",
        "impossible_travel",
        "card_testing",
        "country_hopping",
        "blocklist",
    }
    shape = LoadShape(bank_id="BENCH_x", cards=1000, alert_every=10)
    factory = TransactionFactory(shape, cycle(catalogue))
    made = [factory.make() for _ in range(400)]
    triggers = [m for m in made if m[3]]
    assert triggers
    for tx_id, _key, value, _ in triggers:
        tx = parse_transaction(value)
        assert int(tx.card_number[1:-1]) >= shape.cards  # outside the population
        assert tx_id in factory.trigger_rules
