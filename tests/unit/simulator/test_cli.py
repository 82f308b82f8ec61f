from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import pytest

from fraudstream.cli import UserError, build_parser
from fraudstream.config import Settings
from fraudstream.simulator.cli import parse_rate, plan
from fraudstream.simulator.producer import labels_path_for

SETTINGS = Settings(postgres_port=1)  # unreachable: labels fall back to Kafka


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["produce", *argv])


def test_defaults_run_every_bank_at_its_configured_rate() -> None:
    job = plan(_args(), SETTINGS)
    assert [b.bank_id for b in job.banks] == ["BANK_A", "BANK_B"]
    assert job.rate == 80.0
    assert job.topic == SETTINGS.topic_transactions
    assert job.labels_topic == SETTINGS.topic_labels and not job.labels_db
    assert job.count is None and job.duration is None


def test_one_bank_at_its_rate() -> None:
    job = plan(_args("--bank", "BANK_A"), SETTINGS)
    assert [b.bank_id for b in job.banks] == ["BANK_A"] and job.rate == 50.0
    assert job.clock_rates == {"BANK_A": 50.0}


def test_rate_override_and_clock() -> None:
    job = plan(_args("--rate", "800", "--topic", "t", "--labels", "none"), SETTINGS)
    assert job.rate == 800.0 and job.topic == "t" and job.labels_topic is None
    assert job.clock_rates == {"BANK_A": 500.0, "BANK_B": 300.0}
    slow = plan(_args("--rate", "8"), SETTINGS)
    # Paced: one simulated second per wall second.
    assert slow.clock_rates == {"BANK_A": 5.0, "BANK_B": 3.0}
    assert not slow.follow_wall
    unpaced = plan(_args("--rate", "max"), SETTINGS)
    assert unpaced.follow_wall and unpaced.rate is None
    batch = plan(_args("--rate", "max", "--count", "8000"), SETTINGS)
    # A bounded unpaced batch keeps the banks' rhythm and lies in the past.
    assert batch.clock_rates == {"BANK_A": 50.0, "BANK_B": 30.0} and not batch.follow_wall
    assert batch.start < time.time() - 100


def test_output_mode(tmp_path: Path) -> None:
    job = plan(_args("--output", str(tmp_path / "x.jsonl"), "--count", "10"), SETTINGS)
    assert job.rate is None and job.label_file and job.labels_topic is None
    with pytest.raises(UserError, match="needs --count"):
        plan(_args("--output", str(tmp_path / "x.jsonl")), SETTINGS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bank", "NOPE"], "unknown bank"),
        (["--rate", "fast"], "--rate"),
        (["--rate", "-1"], "positive"),
        (["--count", "0"], "--count"),
        (["--fraud-rate", "2"], "--fraud-rate"),
        (["--processes", "0"], "--processes"),
    ],
)
def test_user_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan(_args(*argv), SETTINGS)


def test_parse_rate() -> None:
    assert parse_rate("max") is None and parse_rate(None) is None
    assert parse_rate("2.5") == 2.5


def test_help_mentions_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["produce", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--bank",
        "--rate",
        "--duration",
        "--count",
        "--fraud-rate",
        "--seed",
        "--output",
        "--banks-config",
        "--topic",
        "--labels",
        "--processes",
    ):
        assert option in text


def test_seed_is_random_unless_given() -> None:
    assert plan(_args("--seed", "12"), SETTINGS).seed == 12
    assert len({plan(_args(), SETTINGS).seed for _ in range(3)}) > 1


def test_bounded_runs_only_start_scenarios_that_can_finish(tmp_path: Path) -> None:
    import json

    from fraudstream.simulator.cli import horizon, produce_part

    out = tmp_path / "run.jsonl"
    args = _args("--output", str(out), "--count", "6000", "--fraud-rate", "0.02", "--seed", "3")
    job = plan(args, SETTINGS)
    assert horizon(job) is not None
    assert horizon(plan(_args(), SETTINGS)) is None
    counts = produce_part(job, threading.Event(), None)
    assert counts.sent == 6000
    labels = [json.loads(line) for line in labels_path_for(out).read_text().splitlines()]
    by_scenario: dict[str, list[dict[str, object]]] = {}
    for label in labels:
        by_scenario.setdefault(str(label["scenario_id"]), []).append(label)
    assert by_scenario
    for steps in by_scenario.values():
        assert any(step["is_trigger"] for step in steps)
        assert sorted(int(str(s["step"])) for s in steps) == list(range(1, len(steps) + 1))
