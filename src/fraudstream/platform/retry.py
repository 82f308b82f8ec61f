"""Retrying start-up steps that fail while a service is still coming up.

A restarted service answers some requests before it can serve them: Kafka
brokers appear in the metadata while they are still catching up with the
controller (and librdkafka drops the connection a request was waiting on),
PostgreSQL accepts connections only to refuse them ("the database system is
starting up"), Flink's REST server answers before its dispatcher has a leader.
Those errors are retried with a short exponential back-off until the
component's deadline; an error that waiting cannot fix (a bad password, an
invalid topic configuration) ends the wait at once. Either way the caller gets
one ``ReadinessError`` that names the component and its log file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fraudstream.platform.procs import ManagedProcess, ReadinessError

log = logging.getLogger(__name__)
T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class NotReady(Exception):
    """Raised by a probe whose service answered but is not ready yet.

    ``component`` and ``log_file`` narrow the blame when the probe knows
    better than its caller, e.g. which broker is missing from the metadata.
    """

    def __init__(
        self, detail: str, *, component: str | None = None, log_file: Path | None = None
    ) -> None:
        super().__init__(detail)
        self.component = component
        self.log_file = log_file


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``initial``, doubling, capped at ``maximum``.

    The cap is low because every probe here is cheap (a connect, a metadata
    request, a REST GET) and each second slept past readiness is a second
    added to ``stack up``.
    """

    initial: float = 0.05
    factor: float = 2.0
    maximum: float = 0.5

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * self.factor**attempt))


DEFAULT_BACKOFF = Backoff()


class Deadline:
    """A point in time that several steps of one component share."""

    def __init__(self, timeout: float, *, clock: Clock = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._at = clock() + timeout

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._at


def always(exc: BaseException) -> bool:
    del exc
    return True


def summary(exc: BaseException, limit: int = 240) -> str:
    """One line describing ``exc``, short enough for an error message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, NotReady):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry(
    action: Callable[[], T],
    *,
    deadline: Deadline | float,
    component: str,
    what: str,
    transient: Callable[[BaseException], bool] = always,
    log_file: Path | None = None,
    proc: ManagedProcess | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Sleep = time.sleep,
) -> T:
    """Run ``action`` until it returns, retrying transient errors until ``deadline``.

    ``NotReady`` is always transient. A permanent error, the death of
    ``proc`` or the deadline raise ``ReadinessError`` (chained to the cause).
    """
    if not isinstance(deadline, Deadline):
        deadline = Deadline(deadline)
    attempt = 0
    while True:
        try:
            return action()
        except ReadinessError:
            # A probe that already knows the verdict (a process died).
            raise
        except NotReady as exc:
            last: Exception = exc
        except Exception as exc:
            if not transient(exc):
                raise ReadinessError(
                    component, f"failed ({what}): {summary(exc)}", log_file
                ) from exc
            last = exc
        if proc is not None and not proc.alive():
            raise ReadinessError(
                component, f"exited while waiting for {what}", proc.log_file
            ) from last
        if deadline.expired():
            blamed = component
            blamed_log = log_file
            if isinstance(last, NotReady) and last.component is not None:
                blamed, blamed_log = last.component, last.log_file
            raise ReadinessError(
                blamed,
                f"did not become ready within {deadline.timeout:.3g} s "
                f"(waiting for {what}; last: {summary(last)})",
                blamed_log,
            ) from last
        # The first miss says what is awaited; the rest would only repeat it.
        log.log(
            logging.INFO if attempt == 0 else logging.DEBUG,
            "%s: waiting for %s (%s)",
            component,
            what,
            summary(last),
        )
        sleep(min(backoff.delay(attempt), max(deadline.remaining(), 0.01)))
        attempt += 1


def poll(
    check: Callable[[], bool],
    *,
    deadline: Deadline | float,
    component: str,
    what: str,
    transient: Callable[[BaseException], bool] = always,
    log_file: Path | None = None,
    proc: ManagedProcess | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Sleep = time.sleep,
) -> None:
    """``retry`` for a probe that answers True once the service is ready."""

    def attempt() -> None:
        if not check():
            raise NotReady("not yet")

    retry(
        attempt,
        deadline=deadline,
        component=component,
        what=what,
        transient=transient,
        log_file=log_file,
        proc=proc,
        backoff=backoff,
        sleep=sleep,
    )
