from __future__ import annotations

import pytest

from fraudstream.simulator.ratecontrol import RateController


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _drive(rate: float, seconds: float, tick: float, max_batch: int = 5000) -> int:
    """Simulate a sender that wakes every ``tick`` seconds and sends its allowance."""
    clock = FakeClock()
    pacer = RateController(rate, clock=clock, max_batch=max_batch)
    pacer.start()
    end = clock.now + seconds
    while clock.now < end:
        n = pacer.allowance()
        pacer.record(n)
        clock.now += max(tick, pacer.delay()) if n == 0 else 0.0
    return pacer.sent


@pytest.mark.parametrize("rate", [1.0, 3.0, 50.0, 80.0, 1000.0, 50_000.0])
@pytest.mark.parametrize("tick", [0.001, 0.013, 0.1, 0.7])
def test_average_rate_within_two_percent(rate: float, tick: float) -> None:
    seconds = max(100.0, 200.0 / rate)
    sent = _drive(rate, seconds, tick)
    assert sent / seconds == pytest.approx(rate, rel=0.02)


def test_first_record_goes_at_once_then_one_per_period() -> None:
    clock = FakeClock()
    pacer = RateController(2.0, clock=clock)
    assert pacer.allowance() == 1
    pacer.record(1)
    assert pacer.allowance() == 0
    assert pacer.delay() == pytest.approx(0.5)
    clock.now += 0.5
    assert pacer.allowance() == 1


def test_a_stall_is_made_up_in_bounded_batches() -> None:
    clock = FakeClock()
    pacer = RateController(1000.0, clock=clock, max_batch=300)
    pacer.start()
    clock.now += 1.0  # the process was descheduled for a second
    batches = []
    while (n := pacer.allowance()) > 0:
        batches.append(n)
        pacer.record(n)
    assert max(batches) == 300
    assert pacer.sent == 1001
    assert pacer.achieved() == pytest.approx(1001)


def test_unlimited_rate_never_waits() -> None:
    pacer = RateController(None, clock=FakeClock(), max_batch=64)
    assert pacer.allowance() == 64
    assert pacer.delay() == 0.0


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateController(0.0)
