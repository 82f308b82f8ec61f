"""The simulator against the real cluster: produce, consume back, compare."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from fraudstream.config import Settings, env_for
from fraudstream.records import parse_transaction
from fraudstream.simulator import deliver, generate

from .conftest import consume_all


def _delivered(stdout: str) -> int:
    match = re.search(r"delivered ([\d,]+)", stdout)
    assert match, stdout
    return int(match.group(1).replace(",", ""))


def test_produce_command_delivers_each_record_once_with_labels(
    settings: Settings,
    sim_topic: Callable[[str], str],
    group_id: str,
    pg: psycopg.Connection[tuple[object, ...]],
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    tx_topic, labels_topic = sim_topic("sim-tx"), sim_topic("sim-labels")
    n = 4000
    result = cli(
        "produce",
        "--count", str(n),
        "--rate", "max",
        "--fraud-rate", "0.03",
        "--seed", str(uuid.uuid4().int % 10**6),
        "--topic", tx_topic,
        "--labels-topic", labels_topic,
        "--labels", "both",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _delivered(result.stdout) == n

    records = consume_all(settings, tx_topic, group_id, n)
    assert len(records) == n
    txs = [parse_transaction(value) for _, value in records]
    ids = [tx.transaction_id for tx in txs]
    assert len(set(ids)) == n
    for (key, _), tx in zip(records, txs, strict=True):
        assert key == str(tx.user_id).encode()  # keyed by user: no card number in the key
    assert {tx.bank_id for tx in txs} == {"BANK_A", "BANK_B"}
    by_id = {tx.transaction_id: tx for tx in txs}

    labels = [json.loads(v) for _, v in consume_all(settings, labels_topic, group_id + "-l", 1)]
    assert labels, "a 3% fraud rate over 4000 records starts scenarios"
    assert len({lb["transaction_id"] for lb in labels}) == len(labels)
    scenarios: dict[str, list[dict[str, object]]] = {}
    for label in labels:
        tx = by_id[label["transaction_id"]]  # every label names a delivered transaction
        assert label["bank_id"] == tx.bank_id
        scenarios.setdefault(label["scenario_id"], []).append(label)
    for steps in scenarios.values():
        cards = {by_id[str(s["transaction_id"])].card_number for s in steps}
        users = {by_id[str(s["transaction_id"])].user_id for s in steps}
        name = str(steps[0]["scenario"])
        if name == "card_enumeration":  # one card of each of consecutive users
            assert len(cards) == len(users) == len(steps)
        elif name == "multi_card_spree":  # every card of one user
            assert len(users) == 1 and len(cards) >= 2
        else:
            assert len(cards) == 1  # one victim card per scenario
        ordered = sorted(steps, key=lambda s: int(str(s["step"])))
        times = [by_id[str(s["transaction_id"])].event_time for s in ordered]
        assert times == sorted(times)

    rows = pg.execute(
        "SELECT transaction_id, scenario_id, scenario, step, is_trigger, bank_id"
        " FROM fraud_labels WHERE transaction_id = ANY(%s)",
        ([lb["transaction_id"] for lb in labels],),
    ).fetchall()
    assert sorted(rows) == sorted(
        (
            lb["transaction_id"],
            lb["scenario_id"],
            lb["scenario"],
            lb["step"],
            lb["is_trigger"],
            lb["bank_id"],
        )
        for lb in labels
    )
    pg.execute(
        "DELETE FROM fraud_labels WHERE transaction_id = ANY(%s)",
        ([lb["transaction_id"] for lb in labels],),
    )


def test_sigterm_flushes_and_exits_zero(
    settings: Settings, sim_topic: Callable[[str], str], group_id: str
) -> None:
    tx_topic = sim_topic("sim-term")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fraudstream.cli", "produce", "--bank", "BANK_A",
         "--rate", "300", "--topic", tx_topic, "--labels", "none"],
        env=env_for(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        # Wait until records flow, then stop it like `fraudstream run` does.
        first = consume_all(settings, tx_topic, group_id, 50, settle=0.0)
        assert len(first) >= 50
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    delivered = _delivered(stdout)
    records = consume_all(settings, tx_topic, group_id + "-all", delivered)
    assert len(records) == delivered
    assert {parse_transaction(v).bank_id for _, v in records} == {"BANK_A"}


def test_api_generate_and_deliver(
    settings: Settings, sim_topic: Callable[[str], str], group_id: str
) -> None:
    tx_topic, labels_topic = sim_topic("sim-api"), sim_topic("sim-api-labels")
    items = list(generate(seed=5, count=1500, fraud_rate=0.05, clock_rate=2.0))
    counts = deliver(settings, items, topic=tx_topic, labels_topic=labels_topic)
    assert counts.failed == 0 and counts.delivered == len(items)
    expected_labels = [label for _, label in items if label is not None]
    assert {label.scenario for label in expected_labels} >= {"card_testing", "velocity_burst"}
    records = consume_all(settings, tx_topic, group_id, len(items))
    assert sorted(v for _, v in records) == sorted(tx.to_json() for tx, _ in items)
    labels = consume_all(settings, labels_topic, group_id + "-l", len(expected_labels))
    assert sorted(json.loads(v)["transaction_id"] for _, v in labels) == sorted(
        label.transaction_id for label in expected_labels
    )


def test_replay_delivers_valid_lines_and_reports_invalid_ones(
    settings: Settings,
    sim_topic: Callable[[str], str],
    group_id: str,
    tmp_path: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    tx_topic = sim_topic("sim-replay")
    good = [tx.to_json() for tx, _ in generate(seed=8, count=300)]
    lines = list(good)
    lines.insert(10, b'{"transaction_id": "nope"}')
    lines.insert(100, b"{truncated")
    lines.insert(200, good[0].replace(b'"amount":', b'"amount":-'))
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = cli("replay", str(path), "--rate", "1000", "--topic", tx_topic)
    assert result.returncode == 1  # some lines were invalid
    assert f"{path}:11: bad_transaction_id" in result.stderr
    assert f"{path}:101: not_json" in result.stderr
    assert f"{path}:201: bad_amount" in result.stderr
    assert _delivered(result.stdout) == len(good)
    records = consume_all(settings, tx_topic, group_id, len(good))
    assert sorted(v for _, v in records) == sorted(good)
    assert all(k == str(parse_transaction(v).user_id).encode() for k, v in records)


def test_unpaced_processes_deliver_once_and_never_in_the_future(
    settings: Settings,
    sim_topic: Callable[[str], str],
    group_id: str,
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    from datetime import UTC, datetime, timedelta

    tx_topic = sim_topic("sim-max")
    result = cli(
        "produce", "--rate", "max", "--duration", "2", "--processes", "2",
        "--topic", tx_topic, "--labels", "none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    delivered = _delivered(result.stdout)
    assert delivered > 1000
    records = consume_all(settings, tx_topic, group_id, delivered)
    assert len(records) == delivered
    txs = [parse_transaction(v) for _, v in records]
    assert len({tx.transaction_id for tx in txs}) == delivered
    latest = max(tx.event_time for tx in txs)
    assert latest <= datetime.now(UTC) + timedelta(seconds=1)
