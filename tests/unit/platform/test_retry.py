"""The start-up retry helper and the error classifiers, without services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import requests
from confluent_kafka import KafkaError, KafkaException

from fraudstream.platform import flink, postgres, topics
from fraudstream.platform.procs import ReadinessError
from fraudstream.platform.retry import Backoff, Deadline, NotReady, poll, retry, summary


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Callable[[], Exception], result: str = "ok") -> Callable[[], str]:
    calls = {"n": 0}

    def action() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error()
        return result

    return action


def destroyed() -> KafkaException:
    return KafkaException(KafkaError(KafkaError._DESTROY_BROKER))


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial=0.1, factor=2.0, maximum=1.0)
    assert [backoff.delay(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_transient_errors_are_retried_with_backoff_until_success() -> None:
    t = FakeTime()
    result = retry(
        failing(4, destroyed),
        deadline=Deadline(60, clock=t.clock),
        component="kafka",
        what="topic creation",
        transient=topics.transient,
        backoff=Backoff(initial=0.1, factor=2.0, maximum=0.5),
        sleep=t.sleep,
    )
    assert result == "ok"
    assert t.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.5])


def test_last_sleep_is_cut_to_the_deadline() -> None:
    t = FakeTime()
    with pytest.raises(ReadinessError):
        retry(
            failing(100, destroyed),
            deadline=Deadline(1.0, clock=t.clock),
            component="kafka",
            what="metadata",
            backoff=Backoff(initial=0.3, factor=1.0, maximum=0.3),
            sleep=t.sleep,
        )
    assert t.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])


def test_deadline_ends_the_wait_naming_component_and_log() -> None:
    t = FakeTime()
    log_file = Path("/var/log/fraudstream/kafka-broker-2.log")
    with pytest.raises(ReadinessError) as err:
        retry(
            failing(10_000, destroyed),
            deadline=Deadline(60, clock=t.clock),
            component="kafka-broker-2",
            what="metadata",
            transient=topics.transient,
            log_file=log_file,
            sleep=t.sleep,
        )
    message = str(err.value)
    assert message.startswith("kafka-broker-2 did not become ready within 60 s")
    assert "_DESTROY_BROKER" in message or "destroyed" in message
    assert message.endswith(f"; see {log_file}")
    assert "\n" not in message
    assert isinstance(err.value.__cause__, KafkaException)
    # Never sleeps past the deadline, and gives up promptly after it.
    assert t.now == pytest.approx(60, abs=0.01)
    assert max(t.sleeps) <= Backoff().maximum


def test_permanent_error_fails_at_once() -> None:
    t = FakeTime()
    denied = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    def action() -> None:
        raise denied

    with pytest.raises(ReadinessError, match="kafka failed \\(topic creation\\)") as err:
        retry(
            action,
            deadline=Deadline(60, clock=t.clock),
            component="kafka",
            what="topic creation",
            transient=topics.transient,
            sleep=t.sleep,
        )
    assert t.sleeps == []
    assert err.value.__cause__ is denied


def test_not_ready_can_blame_a_narrower_component() -> None:
    t = FakeTime()

    def probe() -> None:
        raise NotReady("brokers [2, 4] listed", component="kafka-broker-2", log_file=Path("b2.log"))

    with pytest.raises(ReadinessError) as err:
        retry(
            probe,
            deadline=Deadline(5, clock=t.clock),
            component="kafka",
            what="metadata",
            sleep=t.sleep,
        )
    assert err.value.component == "kafka-broker-2"
    assert err.value.log_file == Path("b2.log")
    assert "brokers [2, 4] listed" in str(err.value)


def test_poll_waits_for_a_true_answer() -> None:
    t = FakeTime()
    answers = iter([False, False, True])
    poll(
        lambda: next(answers),
        deadline=Deadline(10, clock=t.clock),
        component="flink-jobmanager",
        what="REST API",
        sleep=t.sleep,
    )
    assert len(t.sleeps) == 2


def test_a_readiness_error_from_the_probe_is_passed_on_unchanged() -> None:
    t = FakeTime()
    died = ReadinessError("kafka-broker-3", "exited while starting", Path("b3.log"))

    def probe() -> None:
        raise died

    with pytest.raises(ReadinessError) as err:
        retry(probe, deadline=Deadline(10, clock=t.clock), component="kafka", what="x")
    assert err.value is died


def test_summary_is_one_short_line() -> None:
    text = summary(RuntimeError("first line\n" + "x" * 1000))
    assert "\n" not in text
    assert text.startswith("RuntimeError: first line")
    assert len(text) <= 240


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError._DESTROY_BROKER, True),
        (KafkaError._TRANSPORT, True),
        (KafkaError._TIMED_OUT, True),
        (KafkaError._ALL_BROKERS_DOWN, True),
        (KafkaError.NOT_CONTROLLER, True),
        (KafkaError.REQUEST_TIMED_OUT, True),
        # Brokers still registering after a restart.
        (KafkaError.INVALID_REPLICATION_FACTOR, True),
        (KafkaError.LEADER_NOT_AVAILABLE, True),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
        (KafkaError.SASL_AUTHENTICATION_FAILED, False),
        (KafkaError.INVALID_CONFIG, False),
        (KafkaError.POLICY_VIOLATION, False),
    ],
)
def test_kafka_errors_classified(code: int, expected: bool) -> None:
    assert topics.transient(KafkaException(KafkaError(code))) is expected


def test_kafka_classifier_ignores_other_exceptions() -> None:
    assert topics.transient(ValueError("bad spec")) is False
    assert topics.transient(KafkaException(KafkaError(KafkaError._FATAL, fatal=True))) is False


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "h", port 1 failed: Connection refused'
            ),
            True,
        ),
        (
            psycopg.OperationalError(
                'connection failed: FATAL:  password authentication failed for user "u"'
            ),
            False,
        ),
        (psycopg.errors.InvalidPassword("password authentication failed"), False),
        (psycopg.errors.InvalidCatalogName('database "x" does not exist'), False),
        (psycopg.errors.SyntaxError("syntax error at or near"), False),
        (RuntimeError("not a database error"), False),
    ],
)
def test_postgres_errors_classified(error: Exception, expected: bool) -> None:
    assert postgres.transient(error) is expected


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.ConnectionError("refused"), True),
        (requests.Timeout("slow"), True),
        (_http_error(503), True),
        (_http_error(500), True),
        (_http_error(404), False),
        (ValueError("half a JSON document"), True),
        (RuntimeError("bug"), False),
    ],
)
def test_flink_errors_classified(error: Exception, expected: bool) -> None:
    assert flink.transient(error) is expected
