"""``fraudstream backtest`` without services: hand-built and simulated JSONL files."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from fraudstream.cli import main
from fraudstream.config import Settings
from fraudstream.detection.backtest import (
    AlertTrace,
    BacktestOptions,
    FraudLabel,
    run_backtest,
    score,
)
from fraudstream.records import alert_id, card_token, luhn_check_digit

T0 = datetime(2025, 12, 16, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
KEY = "backtest-key"

CATALOGUE = """
rules:
  - id: velocity
    type: card_velocity
    severity: high
    params: {window_seconds: 60, limit: 3}
  - id: big
    type: high_amount
    severity: high
    params: {threshold: 1000}
  - id: user-burst
    type: tumbling_window
    severity: medium
    params: {window_seconds: 3600, measure: transactions, limit: 3}
    enabled: false
    pack: extra
  - id: blocked
    type: blocklist
    severity: critical
    params: {kinds: [merchant]}
"""


def card(n: int) -> str:
    """A valid VISA number (16 digits, Luhn) per ``n``."""
    partial = f"4{n:014d}"
    return partial + luhn_check_digit(partial)


def tid(n: int) -> str:
    return str(uuid.UUID(int=n))


def record(
    n: int, card_n: int, user: int, at_s: float, amount: float = 20.0, merchant: str = "Shop"
) -> dict[str, Any]:
    stamp = (T0 + timedelta(seconds=at_s)).isoformat(timespec="milliseconds")
    return {
        "transaction_id": tid(n),
        "bank_id": "BANK_T",
        "payment_system": "VISA",
        "card_number": card(card_n),
        "user_id": user,
        "amount": amount,
        "currency": "EUR",
        "merchant": merchant,
        "country": "FR",
        "timestamp": stamp,
    }


def label(n: int, scenario_id: str, scenario: str, step: int) -> dict[str, Any]:
    return {
        "transaction_id": tid(n),
        "scenario_id": scenario_id,
        "scenario": scenario,
        "step": step,
        "is_trigger": step == 1,
        "bank_id": "BANK_T",
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Port 1 refuses at once: the block list is never read from a real server.
    return Settings(
        card_token_key=SecretStr(KEY),
        home=tmp_path / "home",
        postgres_dsn=SecretStr("postgresql://u:p@127.0.0.1:1/none"),
    )


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """A velocity burst labelled as fraud, a missed labelled attack, honest traffic
    with one large (honest) purchase, and five broken lines."""
    rows: list[Any] = [
        # card 1: five purchases in 40 s, all fraud (attack A, velocity_burst)
        *(record(i, 1, 101, i * 10.0) for i in range(1, 6)),
        # card 2: honest, spread over hours; one large purchase (a false positive)
        record(10, 2, 102, 0.0),
        record(11, 2, 102, 3600.0, amount=2500.0),
        record(12, 2, 102, 7200.0),
        # card 3: attack B (amount_spike) that no rule of this catalogue sees
        record(20, 3, 103, 100.0, amount=80.0),
        # card 4, user 104: honest purchases by one user on two cards
        record(30, 4, 104, 200.0),
        record(31, 5, 104, 300.0),
        record(32, 4, 104, 400.0),
        record(33, 5, 104, 500.0),
        # broken lines, in the reasons the job would give them
        "this is not json",
        "[1, 2]",
        {**record(90, 6, 106, 0.0), "card_number": "41111111abc11111"},
        {k: v for k, v in record(91, 6, 106, 0.0).items() if k != "amount"},
        {**record(92, 6, 106, 0.0), "timestamp": (NOW + timedelta(hours=1)).isoformat()},
        "",
    ]
    path = write_jsonl(tmp_path / "tx.jsonl", rows)
    labels = [label(i, "attack-a", "velocity_burst", i) for i in range(1, 6)]
    labels.append(label(20, "attack-b", "amount_spike", 1))
    write_jsonl(tmp_path / "tx.labels.jsonl", labels)
    (tmp_path / "rules.yaml").write_text(CATALOGUE, encoding="utf-8")
    return path


def test_invalid_lines_are_counted_per_reason_and_skipped(
    case: Path, settings: Settings, tmp_path: Path
) -> None:
    result = run_backtest(
        settings, BacktestOptions(input=case, rules=tmp_path / "rules.yaml"), now=NOW
    )
    assert result.read == 18
    assert result.replayed == 13
    assert result.blank == 1
    assert result.invalid == {
        "bad_card_number": 1,
        "future_timestamp": 1,
        "missing_field": 1,
        "not_json": 1,
        "not_object": 1,
    }
    assert [e.line for e in result.invalid_examples] == [14, 15, 16, 17, 18]


def test_per_rule_counts_and_scores(case: Path, settings: Settings, tmp_path: Path) -> None:
    result = run_backtest(
        settings, BacktestOptions(input=case, rules=tmp_path / "rules.yaml"), now=NOW
    )
    rules = {r.rule_id: r for r in result.rules}
    assert list(rules) == ["velocity", "big", "blocked"]
    # The 4th purchase in a minute opens the episode, the 5th updates it.
    assert (rules["velocity"].alerts, rules["velocity"].emissions) == (1, 2)
    assert (rules["big"].alerts, rules["big"].emissions) == (1, 1)
    assert (rules["blocked"].alerts, rules["blocked"].emissions) == (0, 0)
    assert (result.alerts, result.emissions) == (2, 3)
    assert rules["velocity"].true_positives == 1 and rules["velocity"].precision == 1.0
    assert rules["big"].true_positives == 0 and rules["big"].precision == 0.0
    assert "not readable" in result.blocklist

    quality = result.quality
    assert quality is not None
    assert (quality.attacks, quality.detected, quality.recall) == (2, 1, 0.5)
    assert (quality.true_positive_alerts, quality.false_positive_alerts) == (1, 1)
    assert quality.precision == 0.5
    assert quality.alerts_per_attack == 1.0
    scenarios = {s.scenario: s for s in quality.scenarios}
    assert scenarios["velocity_burst"].recall == 1.0
    assert scenarios["amount_spike"].recall == 0.0
    assert scenarios["amount_spike"].missed == ("attack-b",)
    assert result.cards == 5 and result.users == 0  # no user-scope rule enabled


def test_user_rules_packs_and_given_blocklist(
    case: Path, settings: Settings, tmp_path: Path
) -> None:
    result = run_backtest(
        settings,
        BacktestOptions(input=case, rules=tmp_path / "rules.yaml", packs=("extra",)),
        blocklist={("merchant", "Shop"): "test"},
        now=NOW,
    )
    rules = {r.rule_id: r for r in result.rules}
    # User 104 uses two cards: only the per-user window sees four purchases.
    assert rules["user-burst"].alerts == 2  # users 101 and 104
    assert rules["blocked"].alerts == result.replayed
    assert result.users == 4


def test_alerts_are_deterministic_across_runs(
    case: Path, settings: Settings, tmp_path: Path
) -> None:
    outputs = []
    for run in ("one", "two"):
        out = tmp_path / f"alerts-{run}.jsonl"
        run_backtest(
            settings,
            BacktestOptions(input=case, rules=tmp_path / "rules.yaml", output=out),
            now=NOW,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    alerts = [json.loads(line) for line in outputs[0].splitlines()]
    assert [a["alert_id"] for a in alerts] == [
        alert_id("velocity", tid(4)),
        alert_id("velocity", tid(4)),
        alert_id("big", tid(11)),
    ]
    assert [a["hits"] for a in alerts] == [1, 2, 1]
    # detected_at is the transaction's time, not the wall clock
    assert alerts[0]["detected_at"] == alerts[0]["event_time"] == "2025-12-16T10:00:40.000Z"
    # tokens use the configured key, so they match the archive's
    assert alerts[0]["card_token"] == card_token(card(1), KEY)


def test_out_of_order_transactions_are_counted(settings: Settings, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "late.jsonl",
        [record(1, 1, 1, 60.0), record(2, 1, 1, 30.0), record(3, 1, 1, 90.0)],
    )
    (tmp_path / "rules.yaml").write_text(CATALOGUE, encoding="utf-8")
    result = run_backtest(
        settings, BacktestOptions(input=path, rules=tmp_path / "rules.yaml"), now=NOW
    )
    assert result.out_of_order == 1
    assert result.quality is None  # no labels next to the file


def test_score_counts_evidence_as_touching_an_attack() -> None:
    labels = [
        FraudLabel("f1", "s1", "burst", 1),
        FraudLabel("f2", "s1", "burst", 2),
        FraudLabel("g1", "s2", "other", 1),
    ]
    traces = {
        "a": AlertTrace("r1", 3, {"f2"}),  # its own transaction is honest, evidence is not
        "b": AlertTrace("r2", 1, set()),
        "c": AlertTrace("r2", 1, set()),
    }
    quality, per_rule = score(traces, labels, replayed={"f1", "f2"})
    assert quality.attacks == 1  # s2 was not in the input: it cannot count
    assert quality.labels_not_replayed == 1
    assert (quality.detected, quality.recall) == (1, 1.0)
    assert quality.precision == round(1 / 3, 4)
    assert quality.alerts_per_attack == 3.0
    assert per_rule == {"r1": (1, 1), "r2": (0, 0)}


def test_simulated_stream_end_to_end_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudstream.simulator.generator import generate

    source = tmp_path / "sim.jsonl"
    labels = []
    with source.open("wb") as out:
        for tx, lab in generate(seed=7, count=3000, fraud_rate=0.02):
            out.write(tx.to_json() + b"\n")
            if lab is not None:
                labels.append(lab.to_dict())
    write_jsonl(tmp_path / "sim.labels.jsonl", labels)
    monkeypatch.setenv("FRAUDSTREAM_CARD_TOKEN_KEY", KEY)
    alerts, report = tmp_path / "out" / "alerts.jsonl", tmp_path / "out" / "report.json"
    code = main(
        [
            "backtest",
            str(source),
            "--pack",
            "seed-baseline",
            "--no-blocklist",
            "--output",
            str(alerts),
            "--report",
            str(report),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "velocity_burst" in printed and "seed-user-velocity" in printed
    data = json.loads(report.read_text())
    assert data["replayed"] == data["read"] >= 3000 and data["invalid"] == {}
    assert data["quality"]["attacks"] > 0
    assert data["quality"]["labelled_transactions"] == len(labels)
    lines = alerts.read_text().splitlines()
    assert len(lines) == data["emissions"]
    assert len({json.loads(line)["alert_id"] for line in lines}) == data["alerts"]
    assert sum(r["emissions"] for r in data["rules"]) == data["emissions"]
    assert "not read (--no-blocklist)" in data["blocklist"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backtest"], "nothing to replay"),
        (["backtest", "{missing}"], "is not a readable file"),
        (["backtest", "--from", "yesterday"], "is not an ISO-8601 time"),
        (["backtest", "--from", "2025-01-02", "--to", "2025-01-01"], "is not before --to"),
        (["backtest", "--to", "2025-01-01"], "--to needs --from"),
        (["backtest", "{case}", "--from", "2025-01-01"], "not both"),
        (["backtest", "{case}", "--rules", "{missing}"], "rule catalogue"),
        (["backtest", "{case}", "--rules", "{bad_rules}"], "invalid rule catalogue"),
        (["backtest", "{case}", "--pack", "nope"], "unknown rule pack"),
        (["backtest", "{case}", "--labels", "{missing}"], "labels file"),
    ],
)
def test_clear_errors(
    argv: list[str],
    message: str,
    case: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad_rules = tmp_path / "bad.yaml"
    bad_rules.write_text("rules:\n  - id: x\n    type: no_such_type\n", encoding="utf-8")
    paths = {"case": case, "missing": tmp_path / "missing.jsonl", "bad_rules": bad_rules}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fraudstream: error: ")
    assert message in err


def test_unreachable_archive_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUDSTREAM_POSTGRES_DSN", "postgresql://u:p@127.0.0.1:1/none")
    assert main(["backtest", "--from", "2025-12-16T10:00:00Z", "--to", "2025-12-16T11:00"]) == 2
    assert "archive not reachable" in capsys.readouterr().err


def test_score_counts_cases_per_attack() -> None:
    labels = [FraudLabel("f1", "s1", "burst", 1), FraudLabel("f2", "s1", "burst", 2)]
    traces = {
        "a": AlertTrace("r1", 1, {"f1"}, case_id="a"),
        "b": AlertTrace("r2", 1, {"f2"}, case_id="a"),  # same case as a
        "c": AlertTrace("r3", 1, set(), case_id="c"),  # a false alert, a case of its own
    }
    quality, _ = score(traces, labels, replayed={"f1", "f2"})
    assert quality.alerts_per_attack == 3.0
    assert quality.cases_per_attack == 2.0  # every case over the attacks
    [burst] = quality.scenarios
    assert (burst.alerts_per_attack, burst.cases_per_attack) == (2.0, 1.0)
