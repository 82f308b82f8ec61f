from __future__ import annotations

from fraudstream.bench.reconcile import Currency, Expected, Window, alert_latency, reconcile


def test_currency_moves_past_what_the_sink_holds() -> None:
    items = [(10.0, "a"), (11.0, "b"), (12.0, "c"), (20.0, "d")]
    held = {"a", "b"}
    cursor = Currency(within=5.0, give_up_after=100.0)
    assert cursor.check(items, 16.0, lambda ids: held & set(ids)) is True  # a, b due and held
    assert cursor.cursor == 2
    assert cursor.check(items, 18.0, lambda ids: held & set(ids)) is False  # c due, missing
    held.add("c")
    assert cursor.check(items, 18.0, lambda ids: held & set(ids)) is True
    assert cursor.check(items, 26.0, lambda ids: held & set(ids)) is False  # d due
    assert cursor.given_up == []


def test_currency_gives_up_on_an_item_missing_too_long() -> None:
    items = [(0.0, "a"), (1.0, "b")]
    cursor = Currency(within=1.0, give_up_after=30.0)
    assert cursor.check(items, 10.0, lambda ids: {"b"}) is False
    assert cursor.check(items, 31.0, lambda ids: {"b"}) is True
    assert cursor.given_up == ["a"]


def test_currency_checks_in_batches() -> None:
    items = [(float(i), str(i)) for i in range(10)]
    cursor = Currency(within=0.0, give_up_after=100.0, batch=4)
    assert cursor.check(items, 100.0, lambda ids: set()) is False
    assert cursor.check(items, 100.0, lambda ids: set(ids)) is False
    assert cursor.check(items, 100.0, lambda ids: set(ids)) is False
    assert cursor.check(items, 100.0, lambda ids: set(ids)) is True
    assert cursor.cursor == 10


def test_reconcile_counts_losses_and_alerts_per_fault() -> None:
    windows = [Window("broker", 100.0, 110.0, 200.0), Window("postgres", 200.0, None, 300.0)]
    appended = {"t1": 50.0, "t2": 105.0, "t3": 205.0, "t4": 250.0}
    expected = [
        Expected("a1", "t1", "r"),
        Expected("a2", "t3", "r"),
        Expected("a3", "never-sent", "r"),
    ]
    result = reconcile(
        appended=appended,
        delivery_failures=0,
        archived=["t1", "t2", "t4", "stray"],
        duplicate_rows=0,
        expected=expected,
        received={"a1": 2, "x": 1},
        windows=windows,
    )
    data = result.to_dict()
    assert data["lost"] == 1 and data["lost_examples"] == ["t3"]
    assert data["unexpected_rows"] == 1
    assert data["expected_alerts"] == 2  # a3's trigger was never acknowledged
    assert data["missing_alerts"] == 1 and data["missing_alert_examples"] == ["a2"]
    assert data["unexpected_alerts"] == 1
    assert data["duplicate_alert_emissions"] == 1
    assert data["per_fault"] == {"postgres": {"lost": 1, "missing_alerts": 1}}


def test_alert_latency_during_a_fault_and_outside() -> None:
    windows = [Window("taskmanager", 100.0, 120.0, 200.0)]
    expected = [Expected("a", "t1", "r"), Expected("b", "t2", "r"), Expected("c", "t3", "r")]
    appended = {"t1": 50.0, "t2": 110.0, "t3": 150.0}
    seen = {"a": 50.1, "b": 125.0, "c": 150.2}
    latency = alert_latency(seen, expected, appended, windows)
    assert latency["taskmanager"]["count"] == 1
    assert latency["taskmanager"]["max"] == 15000.0
    assert latency["outside faults"]["count"] == 2
