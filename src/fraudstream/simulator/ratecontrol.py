"""Pacing: how many records may go out now to hold an average rate.

The controller counts from a fixed start, so a late wake-up is made up by
the next batch instead of lowering the average: after ``t`` seconds exactly
``floor(rate * t)`` records have been allowed. The clock is injected, so the
logic is tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateController:
    """``rate`` records per second (None: as fast as possible)."""

    rate: float | None
    clock: Callable[[], float] = time.monotonic
    max_batch: int = 5000
    sent: int = 0
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")

    def start(self) -> None:
        self.started = self.clock()
        self.sent = 0

    def allowance(self) -> int:
        """Records that may be sent now (0: wait ``delay()`` first)."""
        if self.started < 0:
            self.start()
        if self.rate is None:
            return self.max_batch
        due = math.floor(self.rate * (self.clock() - self.started) + 1e-9) + 1
        return max(0, min(self.max_batch, due - self.sent))

    def record(self, n: int) -> None:
        self.sent += n

    def delay(self) -> float:
        """Seconds until the next record is due (0 when one already is)."""
        if self.rate is None:
            return 0.0
        due_at = self.started + self.sent / self.rate
        return max(0.0, due_at - self.clock())

    def elapsed(self) -> float:
        return 0.0 if self.started < 0 else self.clock() - self.started

    def achieved(self) -> float:
        """Average records per second since start."""
        elapsed = self.elapsed()
        return self.sent / elapsed if elapsed > 0 else 0.0
