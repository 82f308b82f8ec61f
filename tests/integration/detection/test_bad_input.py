"""The bad-input corpus on the real stack: every kind of broken or suspicious
record gets its one documented outcome (docs/CONTRACT.md) — the dead-letter
topic with its reason, or the archive with its flag — the job never
restarts, and no card number is stored in clear anywhere but the
transactions topic: not in the DLQ, `rejected_records`, the alerts topic and
table, the archive, nor the Flink and Kafka logs.

The corpus is data (``CORPUS``): one entry per case, built in order, so a
case can reuse an earlier case's transaction id (a duplicate id is one more
entry).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from confluent_kafka import Message

from fraudstream.config import Settings
from fraudstream.detection import job
from fraudstream.redact import MAX_STORED_BYTES

from .conftest import CATALOGUE, DetectionRun, fresh_visa

MAX_AMOUNT = 9000.0
"""The job's max_amount setting in this module (the high-amount rule fires above 5000)."""

rng = random.Random()
CARD = fresh_visa()  # the corpus's ordinary card
PANS = [fresh_visa() for _ in range(10)]  # one for each spelling below


def spaced(pan: str) -> str:
    return " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))


def dashed(pan: str) -> str:
    return "-".join(pan[i : i + 4] for i in range(0, len(pan), 4))


def escaped(pan: str) -> str:
    """JSON escapes for every other digit: ``\\u00341\\u00311...``."""
    return "".join(f"\\u003{d}" if i % 2 == 0 else d for i, d in enumerate(pan))


@dataclass
class Builder:
    """Builds the corpus's records; remembers each case's transaction id."""

    ids: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """each case's record, when it is one: a duplicate repeats it"""

    def record(self, **changes: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "transaction_id": str(uuid.uuid4()),
            "bank_id": "BANK_IT",
            "payment_system": "VISA",
            "card_number": CARD,
            "user_id": 4242,
            "amount": round(rng.uniform(5, 50), 2),
            "currency": "USD",
            "merchant": "Corpus Store",
            "country": "US",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        record.update(changes)
        return {k: v for k, v in record.items() if v is not MISSING}

    @staticmethod
    def text(record: dict[str, Any], **raw_values: str) -> bytes:
        """``record`` as JSON with some values written verbatim (JSON escapes)."""
        body = json.dumps({k: v for k, v in record.items() if k not in raw_values})
        extra = "".join(f', "{k}": "{v}"' for k, v in raw_values.items())
        return (body[:-1] + extra + "}").encode()


MISSING: Any = object()


@dataclass(frozen=True)
class Outcome:
    reason: str | None = None
    """DLQ reason; None when the record is archived"""
    flags: str = ""
    """quality_flags of the archived row"""


def dlq(reason: str) -> Outcome:
    return Outcome(reason=reason)


def archived(flags: str = "") -> Outcome:
    return Outcome(flags=flags)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Builder], dict[str, Any] | bytes]
    outcome: Outcome


def _future() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


CORPUS: list[Case] = [
    Case(
        "not JSON",
        lambda b: f'{{"card_number": "{spaced(PANS[0])}", oops'.encode(),
        dlq("not_json"),
    ),
    Case(
        "not UTF-8",
        lambda b: b"\xff\xfe" + json.dumps(b.record(card_number=dashed(PANS[1]))).encode(),
        dlq("not_json"),
    ),
    Case(
        "array", lambda b: json.dumps([b.record(card_number=PANS[2])]).encode(), dlq("not_object")
    ),
    Case("scalar", lambda b: json.dumps(spaced(PANS[3])).encode(), dlq("not_object")),
    Case("missing field", lambda b: b.record(merchant=MISSING), dlq("missing_field")),
    Case("null field", lambda b: b.record(amount=None), dlq("missing_field")),
    Case("wrong type", lambda b: b.record(amount="12.50"), dlq("wrong_type")),
    Case("zero amount", lambda b: b.record(amount=0), dlq("bad_amount")),
    Case("negative amount", lambda b: b.record(amount=-5.0), dlq("bad_amount")),
    Case(
        "amount above the maximum",
        lambda b: b.record(amount=MAX_AMOUNT + 0.01),
        dlq("amount_above_maximum"),
    ),
    Case("amount at the maximum", lambda b: b.record(amount=MAX_AMOUNT), archived()),
    Case("unknown currency", lambda b: b.record(currency="XYZ"), archived("unknown_currency")),
    Case("unknown country", lambda b: b.record(country="ZZ"), archived("unknown_country")),
    Case(
        "unreadable timestamp",
        lambda b: b.record(timestamp="16/12/2025 10:30"),
        dlq("bad_timestamp"),
    ),
    Case("future timestamp", lambda b: b.record(timestamp=_future()), dlq("future_timestamp")),
    Case(
        "oversized",
        # A contract field too long to store whole (cut, marked), an unknown one dropped.
        lambda b: b.record(merchant=f"{dashed(PANS[4])} {'x' * 20_000}", more=spaced(PANS[4])),
        dlq("oversized"),
    ),
    Case("PAN with spaces", lambda b: b.record(card_number=spaced(PANS[5])), archived()),
    Case(
        "PAN with dashes, rejected",
        lambda b: b.record(card_number=dashed(PANS[6]), amount=-1),
        dlq("bad_amount"),
    ),
    Case(
        "JSON-escaped PAN in free text, alerted on",
        lambda b: b.text(b.record(amount=6000.0), merchant=f"Shop {escaped(PANS[7])}"),
        archived(),
    ),
    Case(
        "JSON-escaped PAN, rejected",
        lambda b: b.text(b.record(amount=-2), card_number=escaped(PANS[8])),
        dlq("bad_amount"),
    ),
    Case(
        "extra fields",
        lambda b: b.record(cvv="987", track2=f"{PANS[9]}=2512101"),
        archived(),
    ),
    Case(
        "extra fields, rejected",
        lambda b: b.record(cvv="654", track2=f"{PANS[9]}=2512101", amount=0),
        dlq("bad_amount"),
    ),
    Case(
        "the same record again (a producer's retry)",
        lambda b: dict(b.records["unknown currency"]),
        archived("unknown_currency"),
    ),
    Case(
        "another record under a transaction id seen before",
        lambda b: {**b.records["unknown currency"], "amount": 4321.0, "bank_id": "BANK_OTHER"},
        dlq("duplicate_transaction_id"),
    ),
]

ALL_PANS = [CARD, *PANS]
SPELLINGS = [s for pan in ALL_PANS for s in (pan, spaced(pan), dashed(pan), escaped(pan))]


@dataclass
class Sent:
    case: Case
    payload: bytes
    transaction_id: str | None
    position: tuple[int, int] = (-1, -1)
    """(partition, offset) in the transactions topic"""


def _produce(run: DetectionRun) -> list[Sent]:
    builder = Builder()
    sent: list[Sent] = []
    for case in CORPUS:
        built = case.build(builder)
        payload = built if isinstance(built, bytes) else json.dumps(built).encode()
        tid = built.get("transaction_id") if isinstance(built, dict) else None
        if tid is None and case.outcome.reason is None:
            tid = json.loads(payload)["transaction_id"]
        if tid is not None:
            builder.ids[case.name] = tid
        if isinstance(built, dict):
            builder.records[case.name] = built
        item = Sent(case, payload, tid)

        def delivered(err: Any, msg: Message, item: Sent = item) -> None:
            assert err is None, err
            item.position = (msg.partition(), msg.offset())

        # Keyed by user id as a bank's producer is (never by card number, a key is
        # stored in clear): the records sharing a transaction id then share a
        # partition, so "the first record under an id" is the first one sent. Across
        # partitions the job's reading order, not the sending order, decides.
        user = built.get("user_id") if isinstance(built, dict) else None
        key = str(user).encode() if user is not None else None
        run.producer.produce(
            run.settings.topic_transactions, payload, key=key, on_delivery=delivered
        )
        sent.append(item)
        if case.outcome.reason is None and tid is not None:
            run.tx.sent[tid] = json.loads(payload)  # checked, and cleaned up by the fixture
    assert run.producer.flush(30) == 0
    return sent


def _catalogue(tmp: Path) -> Path:
    """The test catalogue plus impossible_travel, which cannot judge country ZZ."""
    rules = yaml.safe_load(CATALOGUE.read_text())
    rules["rules"].append({"id": "it-travel", "type": "impossible_travel", "severity": "high"})
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def _normalised(text: str) -> str:
    """Escaped digits decoded, separators removed: any spelling of a card
    number becomes its unbroken digits."""
    text = re.sub(r"\\u003([0-9])", r"\1", text)
    text = re.sub(r"\\u00(?:20|2[dD])", "", text)
    return re.sub(r"[ \-]", "", text)


def _clear_pans(where: str, texts: list[str]) -> list[tuple[str, str]]:
    found = []
    for text in texts:
        flat = _normalised(text)
        for pan in ALL_PANS:
            if pan in flat:
                found.append((where, pan))
        for spelling in SPELLINGS:
            if spelling in text:
                found.append((where, spelling))
    return found


def _restarts(settings: Settings, job_id: str) -> int:
    metrics = requests.get(
        f"{settings.flink_rest}/jobs/{job_id}/metrics", params={"get": "numRestarts"}, timeout=10
    ).json()
    return int(float(metrics[0]["value"])) if metrics else 0


def test_bad_input_corpus_gets_its_documented_outcome_and_no_clear_card_number_is_stored(
    run: DetectionRun, settings: Settings, tmp_path: Path
) -> None:
    run.settings = run.settings.model_copy(update={"max_amount": MAX_AMOUNT})
    job_id = run.submit(rules=_catalogue(tmp_path))
    sent = _produce(run)
    rejected_cases = [s for s in sent if s.case.outcome.reason is not None]
    archived_cases = [s for s in sent if s.case.outcome.reason is None]

    run.wait(lambda: set(run.archived()) >= {s.transaction_id for s in archived_cases}, "archive")
    run.wait(lambda: len(run.rejected()) >= len(rejected_cases), "rejected records")

    # Each rejected case: its reason, at its position, in the table and on the DLQ.
    rows = run.query(
        "SELECT source_partition, source_offset, reason, detail, raw_payload "
        "FROM rejected_records WHERE source_topic = %s",
        run.settings.topic_transactions,
    )
    by_position = {(r[0], r[1]): r for r in rows}
    assert len(rows) == len(rejected_cases)
    for item in rejected_cases:
        row = by_position.get(item.position)
        assert row is not None, item.case.name
        assert row[2] == item.case.outcome.reason, (item.case.name, row[2], row[3])
        assert len(row[4].encode()) <= MAX_STORED_BYTES
    dlq = run.read_topic(run.settings.topic_dlq, len(rejected_cases))
    on_topic = {(d["source_partition"], d["source_offset"]): d["reason"] for d in dlq}
    assert on_topic == {s.position: s.case.outcome.reason for s in rejected_cases}

    oversized = next(by_position[s.position] for s in rejected_cases if s.case.name == "oversized")
    assert oversized[4].endswith("bytes received]") and "truncated" in oversized[4]
    extra = next(
        by_position[s.position] for s in rejected_cases if s.case.name == "extra fields, rejected"
    )
    kept = json.loads(extra[4])
    assert kept["cvv"] == "<dropped>" and kept["track2"] == "<dropped>"

    # Each archived case: its flags, nothing else of the corpus archived.
    ids = [s.transaction_id for s in archived_cases]
    flags = dict(
        run.query(
            "SELECT transaction_id, quality_flags FROM transactions WHERE transaction_id = ANY(%s)",
            ids,
        )
    )
    assert flags == {s.transaction_id: s.case.outcome.flags for s in archived_cases}
    # The first record under an id wins: the other record did not overwrite it.
    first = next(s for s in archived_cases if s.case.name == "unknown currency")
    ((amount, bank),) = run.query(
        "SELECT amount, bank_id FROM transactions WHERE transaction_id = %s", first.transaction_id
    )
    assert bank == "BANK_IT" and float(amount) != 4321.0

    # The job never restarted; the travel rule counted what it could not judge.
    run.wait(lambda: job.status(run.settings, job_id).unjudged >= 1, "unjudged metric")
    status = job.status(run.settings, job_id)
    assert status.state == "RUNNING"
    assert _restarts(run.settings, job_id) == 0

    # No card number in clear, in any spelling, anywhere it could be stored.
    alert_ids = [s.transaction_id for s in archived_cases]
    run.wait(
        lambda: bool(run.query("SELECT 1 FROM alerts WHERE transaction_id = ANY(%s)", alert_ids)),
        "the high-amount alert",
    )
    found: list[tuple[str, str]] = []
    found += _clear_pans("rejected_records", [str(v) for r in rows for v in r])
    found += _clear_pans("DLQ", [json.dumps(d) for d in dlq] + [str(d) for d in dlq])
    archive = run.query("SELECT * FROM transactions WHERE transaction_id = ANY(%s)", ids)
    found += _clear_pans("transactions", [str(v) for r in archive for v in r])
    alerts = run.query("SELECT * FROM alerts WHERE transaction_id = ANY(%s)", ids)
    assert alerts
    found += _clear_pans("alerts table", [str(v) for r in alerts for v in r])
    topic_alerts = run.read_topic(run.settings.topic_alerts, 1)
    found += _clear_pans("alerts topic", [json.dumps(a) for a in topic_alerts])
    logs = [
        p.read_bytes().decode("utf-8", errors="replace")
        for p in settings.logs_dir.rglob("*")
        if p.is_file()
    ]
    assert logs
    found += _clear_pans("logs", logs)
    assert not found, found
    # The card number typed into the merchant is masked where the alert shows it.
    masked = [r for r in alerts if "Shop " in str(r)]
    assert masked and f"{PANS[7][:6]}******{PANS[7][-4:]}" in str(masked[0])
