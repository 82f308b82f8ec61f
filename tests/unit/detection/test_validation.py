"""The job's SQL validation, run by Flink in-process on a bounded stream.

Every malformed kind gets one record; the SQL must give the same reason as
``records.parse_transaction`` and valid records must come out masked and
tokenised exactly as the Python helpers do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fraudstream.config import Settings
from fraudstream.detection import validation
from fraudstream.platform.flinkclient import table_env
from fraudstream.records import InvalidRecord, card_token, mask_card, parse_transaction

REPO_ROOT = Path(__file__).resolve().parents[3]
KAFKA_TS = datetime(2025, 12, 16, 10, 30, 50, 500_000, tzinfo=UTC)
KEY = "unit-test-key"

VALID: dict[str, Any] = {
    "transaction_id": "0b7e7c52-3f7e-4f43-9d0c-0f4b1c2d3e4f",
    "bank_id": "BANK_A",
    "payment_system": "VISA",
    "card_number": "4111111111111111",
    "user_id": 1234,
    "amount": 42.5,
    "currency": "USD",
    "merchant": "Acme Corp",
    "country": "US",
    "timestamp": "2025-12-16T10:30:45+00:00",
}


def _with(**changes: Any) -> str:
    record = {**VALID, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not _DROP})


_DROP = object()

MALFORMED: dict[str, tuple[str, str]] = {
    "oversized": ("oversized", _with(merchant="x" * 9000)),
    "not_json": ("not_json", "{not json at all"),
    "not_object": ("not_object", "[1, 2, 3]"),
    "missing_field": ("missing_field", _with(amount=_DROP)),
    "null_field": ("missing_field", _with(country=None)),
    "amount_as_string": ("wrong_type", _with(amount="42.50")),
    "user_id_as_float": ("wrong_type", _with(user_id=12.0)),
    "user_id_as_bool": ("wrong_type", _with(user_id=True)),
    "merchant_as_number": ("wrong_type", _with(merchant=5)),
    "channel_as_number": ("wrong_type", _with(channel=5)),
    "bad_transaction_id": ("bad_transaction_id", _with(transaction_id="tx-1")),
    "bad_bank_id": ("bad_bank_id", _with(bank_id="BANK A!")),
    "unknown_payment_system": ("unknown_payment_system", _with(payment_system="DISCOVER")),
    "luhn": ("bad_card_number", _with(card_number="4111111111111112")),
    "card_of_other_network": ("bad_card_number", _with(card_number="5555555555554444")),
    "card_not_digits": ("bad_card_number", _with(card_number="4111-1111-1111-1111")),
    "card_too_short": ("bad_card_number", _with(card_number="4111")),
    "zero_user_id": ("bad_user_id", _with(user_id=0)),
    "zero_amount": ("bad_amount", _with(amount=0)),
    "negative_amount": ("bad_amount", _with(amount=-5.0)),
    "huge_amount": ("bad_amount", _with(amount=2e6)),
    "bad_currency": ("bad_currency", _with(currency="usd")),
    "blank_merchant": ("bad_merchant", _with(merchant="   ")),
    "bad_country": ("bad_country", _with(country="USA")),
    "timestamp_text": ("bad_timestamp", _with(timestamp="yesterday")),
    "timestamp_without_offset": ("bad_timestamp", _with(timestamp="2025-12-16T10:30:45")),
    "timestamp_bad_hour": ("bad_timestamp", _with(timestamp="2025-12-16T25:30:45Z")),
    "future_timestamp": ("future_timestamp", _with(timestamp="2025-12-17T10:30:45+00:00")),
}

VALID_CASES: dict[str, tuple[str, str]] = {
    # name: (payload, expected event time in UTC)
    "visa": (_with(), "2025-12-16 10:30:45.000"),
    "mastercard_2_series_int_amount": (
        _with(payment_system="MASTERCARD", card_number="2221000000000009", amount=100),
        "2025-12-16 10:30:45.000",
    ),
    "amex_offset_and_fraction": (
        _with(
            payment_system="AMEX",
            card_number="378282246310005",
            timestamp="2025-12-16T12:30:45.123456+02:00",
            channel="online",
        ),
        "2025-12-16 10:30:45.123",
    ),
    "zulu": (_with(timestamp="2025-12-16T10:30:45.5Z"), "2025-12-16 10:30:45.500"),
    "negative_offset": (_with(timestamp="2025-12-16T05:00:45-05:30"), "2025-12-16 10:30:45.000"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, dict[str, Any]]]:
    """Every case through the job's validation views, keyed by source offset.

    The records come from a file, not VALUES: constant rows would be folded
    by the planner through the whole validation expression, which is slow.
    """
    settings = Settings(jvm_dir=REPO_ROOT / ".fraudstream" / "jvm")
    env = table_env(
        settings, remote=False, config={"table.local-time-zone": "UTC", "parallelism.default": 1}
    )
    payloads = [p for _, p in MALFORMED.values()] + [p for p, _ in VALID_CASES.values()]
    folder = tmp_path_factory.mktemp("records")
    millis = int(KAFKA_TS.timestamp() * 1000)
    lines = [json.dumps({"payload": p, "o": i, "ms": millis}) for i, p in enumerate(payloads)]
    (folder / "records.json").write_text("\n".join(lines) + "\n")
    env.execute_sql(
        "CREATE TEMPORARY TABLE records (payload STRING, o BIGINT, ms BIGINT) WITH ("
        f"'connector' = 'filesystem', 'path' = '{folder.as_uri()}', 'format' = 'json')"
    )
    env.execute_sql(
        "CREATE TEMPORARY VIEW raw0 AS SELECT payload, CAST(0 AS INT) AS kafka_partition, "
        "o AS kafka_offset, TO_TIMESTAMP_LTZ(ms, 3) AS kafka_ts FROM records"
    )
    env.execute_sql(
        "CREATE TEMPORARY VIEW raw1 AS SELECT *, "
        f"{validation.rowtime_expr()} AS event_time, PROCTIME() AS proc_time FROM raw0"
    )
    env.execute_sql(f"CREATE TEMPORARY VIEW f AS {validation.fields_sql('raw1')}")
    env.execute_sql(f"CREATE TEMPORARY VIEW c AS {validation.checked_sql('f')}")
    env.execute_sql(f"CREATE TEMPORARY VIEW v AS {validation.valid_sql('f', KEY)}")
    env.execute_sql(f"CREATE TEMPORARY VIEW r AS {validation.rejected_sql('f')}")
    out: dict[int, dict[str, Any]] = {}
    query = "SELECT kafka_offset, verdict, CAST(event_time AS STRING) AS event_time FROM c"
    with env.execute_sql(query).collect() as rows_out:
        for offset, verdict, event_time in rows_out:
            out[offset] = {"verdict": verdict, "rowtime": event_time}
    rejected_query = "SELECT reason, detail, raw_payload, source_offset FROM r"
    with env.execute_sql(rejected_query).collect() as rejected:
        for reason, detail, raw_payload, offset in rejected:
            out[offset].update(reason=reason, detail=detail, raw_payload=raw_payload)
    valid_query = (
        "SELECT card_masked, card_token, user_id, amount, CAST(event_time AS STRING), "
        "transaction_id, channel FROM v"
    )
    with env.execute_sql(valid_query).collect() as valid:
        for masked, token, user_id, amount, event_time, tx_id, channel in valid:
            out.setdefault(-1, {}).setdefault("valid", []).append(
                (masked, token, user_id, amount, event_time, tx_id, channel)
            )
    yield out


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_record_gets_the_python_reason(
    name: str, results: dict[int, dict[str, Any]]
) -> None:
    reason, payload = MALFORMED[name]
    offset = list(MALFORMED).index(name)
    with pytest.raises(InvalidRecord) as python:
        parse_transaction(payload.encode(), now=KAFKA_TS)
    assert python.value.reason == reason
    row = results[offset]
    assert row["reason"] == reason, row
    assert row["detail"]
    # The rowtime is never NULL, whatever the payload says.
    assert row["rowtime"] is not None


@pytest.mark.parametrize("name", sorted(VALID_CASES))
def test_valid_record_passes_with_utc_event_time(
    name: str, results: dict[int, dict[str, Any]]
) -> None:
    payload, expected = VALID_CASES[name]
    parse_transaction(payload.encode(), now=KAFKA_TS)
    offset = len(MALFORMED) + list(VALID_CASES).index(name)
    assert results[offset]["verdict"] is None
    assert results[offset]["rowtime"] == expected


def test_valid_records_are_masked_and_tokenised_like_python(
    results: dict[int, dict[str, Any]],
) -> None:
    valid = results[-1]["valid"]
    assert len(valid) == len(VALID_CASES)
    for name, (payload, expected_time) in VALID_CASES.items():
        data = json.loads(payload)
        row = next(
            r for r in valid if r[4] == expected_time and r[0] == mask_card(data["card_number"])
        )
        assert row[1] == card_token(data["card_number"], KEY), name
        assert row[2] == data["user_id"]
        assert row[3] == pytest.approx(float(data["amount"]))
        assert row[6] == data.get("channel")


def test_rowtime_falls_back_to_the_kafka_timestamp(results: dict[int, dict[str, Any]]) -> None:
    kafka_ts = KAFKA_TS.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    for name in ("timestamp_text", "future_timestamp", "not_json"):
        assert results[list(MALFORMED).index(name)]["rowtime"] == kafka_ts, name


def test_rejected_payload_never_carries_a_card_number(results: dict[int, dict[str, Any]]) -> None:
    for offset, row in results.items():
        if offset >= 0 and row.get("raw_payload"):
            assert "4111111111111111" not in row["raw_payload"]
            assert "5555555555554444" not in row["raw_payload"]
    luhn = results[list(MALFORMED).index("luhn")]["raw_payload"]
    assert "411111******1112" in luhn


def test_sql_timestamp_is_within_the_python_limit() -> None:
    assert validation.max_future_seconds() == int(timedelta(minutes=5).total_seconds())
