from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.records import Transaction, parse_transaction, validate_transaction
from fraudstream.simulator.banks import Bank, load_banks
from fraudstream.simulator.generator import Generator, generate, scaled_rates
from fraudstream.simulator.population import distance_km, travel_hours
from fraudstream.simulator.rows import Label, Timestamps, encode
from fraudstream.simulator.scenarios import SCENARIOS

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SMALL = [
    Bank("S1", 5.0, 1, 60, {"US": 1.0, "GB": 1.0}),
    Bank("S2", 3.0, 100, 139, {"FR": 1.0}),
]


@pytest.fixture(scope="module")
def default_stream() -> list[tuple[Transaction, Label | None]]:
    return list(generate(seed=11, count=16_000, fraud_rate=0.01, start=START))


def test_user_ranges_and_rate_ratio(default_stream: list[tuple[Transaction, Label | None]]) -> None:
    banks = {b.bank_id: b for b in load_banks()}
    counts: Counter[str] = Counter()
    for tx, _ in default_stream:
        bank = banks[tx.bank_id]
        assert bank.first_user <= tx.user_id <= bank.last_user
        counts[tx.bank_id] += 1
    assert counts["BANK_A"] / counts["BANK_B"] == pytest.approx(50 / 30, rel=0.05)


def test_event_time_follows_the_configured_rate(
    default_stream: list[tuple[Transaction, Label | None]],
) -> None:
    times = [tx.event_time for tx, _ in default_stream]
    assert times == sorted(times)
    span = (times[-1] - times[0]).total_seconds()
    assert span == pytest.approx(len(times) / 80, rel=0.05)


def test_labels_are_complete_and_never_in_the_record(
    default_stream: list[tuple[Transaction, Label | None]],
) -> None:
    position = {tx.transaction_id: i for i, (tx, _) in enumerate(default_stream)}
    labels = [label for _, label in default_stream if label is not None]
    assert labels
    for label in labels:
        indexes = [position[i] for i in label.transaction_ids]
        assert indexes == sorted(indexes)
    for tx, _ in default_stream:
        assert set(tx.to_dict()) <= {*Transaction.__dataclass_fields__}


def test_legitimate_users_mostly_at_home_and_travel_plausibly(
    default_stream: list[tuple[Transaction, Label | None]],
) -> None:
    _check_travel([(tx, label) for tx, label in default_stream])


def _check_travel(stream: list[tuple[Transaction, Label | None]]) -> None:
    last: dict[int, Transaction] = {}
    at_home = total = 0
    fraud_cards = {tx.card_number for tx, label in stream if label is not None}
    for tx, label in stream:
        if label is not None or tx.card_number in fraud_cards:
            continue
        prev = last.get(tx.user_id)
        if prev is not None and prev.country != tx.country:
            gap_h = (tx.event_time - prev.event_time).total_seconds() / 3600
            assert gap_h >= travel_hours(prev.country, tx.country) - 1e-6
        last[tx.user_id] = tx
        total += 1
    homes = Counter[tuple[int, str]]()
    for tx, label in stream:
        if label is None:
            homes[(tx.user_id, tx.country)] += 1
    by_user: defaultdict[int, int] = defaultdict(int)
    for (user, _), n in homes.items():
        by_user[user] = max(by_user[user], n)
    at_home = sum(by_user.values())
    assert at_home / total > 0.95


def test_travellers_take_hours_between_countries() -> None:
    # Few users at a slow clock: many simulated days, so trips complete.
    banks = [Bank("T", 0.05, 1, 20, {"US": 1.0}, travellers=0.5)]
    stream = list(generate(seed=2, count=6000, banks=banks, fraud_rate=0.0, start=START))
    countries = {tx.country for tx, _ in stream}
    assert len(countries) > 3
    _check_travel(stream)
    moves = 0
    last: dict[int, Transaction] = {}
    for tx, _ in stream:
        prev = last.get(tx.user_id)
        if prev is not None and prev.country != tx.country:
            moves += 1
            assert distance_km(prev.country, tx.country) > 0
        last[tx.user_id] = tx
    assert moves >= 5


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    def run(seed: int) -> list[tuple[Transaction, Label | None]]:
        return list(generate(seed=seed, count=3000, banks=SMALL, fraud_rate=0.05, start=START))

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_every_scenario_appears_with_a_slow_clock() -> None:
    stream = list(
        generate(seed=1, count=4000, banks=SMALL, fraud_rate=0.05, start=START, clock_rate=1.0)
    )
    seen = {label.scenario for _, label in stream if label is not None}
    assert seen == set(SCENARIOS)
    ids = {tx.transaction_id for tx, _ in stream}
    assert len(ids) == len(stream)
    for _, label in stream:
        if label is not None:
            assert set(label.transaction_ids) <= ids


def test_duration_bounds_event_time() -> None:
    stream = list(generate(seed=1, duration=120, banks=SMALL, fraud_rate=0.02, start=START))
    assert len(stream) == pytest.approx(120 * 8, rel=0.1)
    assert all(0 <= (tx.event_time - START).total_seconds() <= 120 for tx, _ in stream)


def test_default_start_ends_in_the_past() -> None:
    stream = list(generate(seed=1, count=500, banks=SMALL))
    assert stream[-1][0].event_time <= datetime.now(UTC)


def test_selecting_scenarios_and_banks() -> None:
    stream = list(
        generate(
            seed=3,
            count=2000,
            banks=["BANK_B"],
            fraud_rate=0.05,
            start=START,
            scenario_names=["velocity_burst"],
        )
    )
    assert {tx.bank_id for tx, _ in stream} == {"BANK_B"}
    assert {label.scenario for _, label in stream if label} == {"velocity_burst"}


def test_parts_split_users_and_share_the_population() -> None:
    parts = [
        Generator(SMALL, seed=9, start=START.timestamp(), part=p, parts=2).batch(400)
        for p in range(2)
    ]
    users = [{row[4] for row, _ in part} for part in parts]
    assert users[0].isdisjoint(users[1])
    assert {u % 2 for u in users[0]} == {0} and {u % 2 for u in users[1]} == {1}


def test_scaled_rates_keep_proportions() -> None:
    rates = scaled_rates(load_banks(), 800.0)
    assert rates == {"BANK_A": 500.0, "BANK_B": 300.0}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        list(generate(count=1, duration=1))
    with pytest.raises(ValueError, match="unknown scenarios"):
        Generator(SMALL, scenario_names=["nope"])
    with pytest.raises(ValueError, match="fraud_rate"):
        Generator(SMALL, fraud_rate=2.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    fraud_rate=st.floats(min_value=0.0, max_value=0.3),
    clock_rate=st.floats(min_value=0.01, max_value=5000.0),
    first=st.integers(min_value=1, max_value=9_999_000),
    users=st.integers(min_value=1, max_value=50),
    travellers=st.floats(min_value=0.0, max_value=1.0),
    offset_days=st.integers(min_value=-3000, max_value=0),
)
def test_every_generated_record_validates(
    seed: int,
    fraud_rate: float,
    clock_rate: float,
    first: int,
    users: int,
    travellers: float,
    offset_days: int,
) -> None:
    bank = Bank(
        "P", clock_rate, first, first + users - 1, {"US": 1.0, "JP": 1.0}, travellers=travellers
    )
    # Ends before NOW whatever the clock: 300 records plus the longest scenario.
    start = NOW.timestamp() + offset_days * 86400.0 - 300 / clock_rate - 3600.0
    gen = Generator([bank], seed=seed, fraud_rate=fraud_rate, start=start)
    stamp = Timestamps()
    for row, label in gen.batch(300):
        value = encode(row, stamp)
        tx = parse_transaction(value, now=NOW)
        if row[12]:  # the generator's own JSON says the same
            assert parse_transaction(row[12].encode(), now=NOW) == tx
        assert validate_transaction(tx.to_dict(), now=NOW) == tx
        if label is not None:
            assert label.transaction_id == tx.transaction_id


def test_stream_does_not_depend_on_batch_sizes() -> None:
    def rows(sizes: list[int]) -> list[tuple[object, ...]]:
        gen = Generator(SMALL, seed=6, fraud_rate=0.05, start=START.timestamp())
        out: list[tuple[object, ...]] = []
        for size in sizes:
            out.extend(row for row, _ in gen.batch(size))
        return out

    assert rows([1] * 300 + [2700]) == rows([3000]) == rows([7, 1500, 1, 1492])


def test_follow_wall_keeps_event_time_at_the_wall_clock() -> None:
    import time

    gen = Generator(SMALL, seed=1, start=0.0, clock_rates={"S1": 1e7, "S2": 6e6}, follow_wall=True)
    before = time.time()
    rows = [row for row, _ in gen.batch(5000)]
    assert before - 1 <= rows[0][9] and rows[-1][9] <= time.time() + 1


def test_banks_run_separately_with_one_seed_never_share_ids() -> None:
    one = Generator(SMALL[:1], seed=0, start=START.timestamp()).batch(2000)
    two = Generator(SMALL[1:], seed=0, start=START.timestamp()).batch(2000)
    assert {r[0] for r, _ in one}.isdisjoint({r[0] for r, _ in two})


def _lookalike_bank(**extra: float) -> Bank:
    return Bank("L1", 5.0, 1, 200, {"US": 1.0, "CA": 1.0}, travellers=0.0, **extra)


def test_lookalikes_start_at_the_bank_rate_unlabelled_and_seeded() -> None:
    from fraudstream.simulator.scenarios import LOOKALIKES

    bank = _lookalike_bank(shared_accounts=0.3, big_spenders=0.1, lookalike_rate=0.02)
    gen = Generator([bank], seed=4, fraud_rate=0.0, start=START.timestamp())
    rows = gen.batch(5000)
    again = Generator([bank], seed=4, fraud_rate=0.0, start=START.timestamp()).batch(5000)
    assert [r[0] for r, _ in rows] == [r[0] for r, _ in again]
    assert all(label is None for _, label in rows)
    # a flash sale: many different users at one digital-goods shop within minutes
    shop = Counter((row[7], int(row[9] // 600)) for row, _ in rows if row[10] == "5818")
    assert shop and max(shop.values()) >= 10
    assert set(LOOKALIKES) == {"shared_account", "flash_sale", "weekend_trip"}


def test_a_user_on_a_trip_pays_nowhere_else_meanwhile() -> None:
    bank = _lookalike_bank()
    gen = Generator([bank], seed=9, fraud_rate=0.0, start=START.timestamp(), lookalike_names=())
    assert gen.inject_lookalike("weekend_trip") > 0
    trip = sorted(gen._pending)
    user = trip[0][2][4]
    home, abroad = trip[0][2][8], trip[1][2][8]
    end = max(item[0] for item in trip)
    rows = gen.batch(6000)
    mine = [row for row, _ in rows if row[4] == user and row[9] <= end]
    trip_ids = {item[2][0] for item in trip}
    # between leaving and coming back, only the trip's own purchases
    left = trip[0][0]
    assert all(row[0] in trip_ids for row in mine if row[9] > left)
    assert home != abroad


def test_card_enumeration_runs_over_consecutive_account_numbers() -> None:
    gen = Generator([_lookalike_bank()], seed=3, fraud_rate=0.0, start=START.timestamp())
    labels = gen.inject("card_enumeration")
    rows = [item[2] for item in sorted(gen._pending)]
    users = [row[4] for row in rows]
    assert len(labels) == len(rows) >= 10
    assert users == sorted(users) and len(set(users)) == len(users)
    assert len({row[2] for row in rows}) == 1  # one network, one issuer prefix


def test_multi_card_spree_needs_a_user_with_several_cards() -> None:
    gen = Generator([_lookalike_bank()], seed=5, fraud_rate=0.0, start=START.timestamp())
    gen.inject("multi_card_spree")
    cards = {item[2][3] for item in gen._pending}
    assert len(cards) >= 2 and len({item[2][4] for item in gen._pending}) == 1
