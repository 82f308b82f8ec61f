from __future__ import annotations

import json
from pathlib import Path

from fraudstream.records import parse_transaction
from fraudstream.simulator.generator import generate
from fraudstream.simulator.producer import Counts
from fraudstream.simulator.replay import replay


class FakeSink:
    def __init__(self) -> None:
        self.counts = Counts()
        self.sent: list[tuple[bytes, bytes]] = []

    def send_raw(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))
        self.counts.sent += 1
        self.counts.delivered += 1

    def poll(self) -> None:
        pass

    def flush(self, timeout: float) -> int:
        return 0

    def close(self) -> None:
        pass


def test_valid_lines_are_sent_unchanged_and_invalid_ones_reported(tmp_path: Path) -> None:
    good = [tx.to_json() for tx, _ in generate(seed=1, count=20)]
    broken = json.loads(good[3])
    broken["card_number"] = "4111-1111-abcd-1111"  # unreadable (a bad check digit is only flagged)
    lines = [
        *good[:5],
        b"not json",
        b"",
        json.dumps(broken).encode(),
        b'{"transaction_id": 1}',
        b"[1, 2]",
        *good[5:],
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    sink = FakeSink()
    seen = []
    report = replay(sink, path, rate=None, on_reject=seen.append)  # type: ignore[arg-type]
    assert [value for _, value in sink.sent] == good
    assert [key for key, _ in sink.sent] == [  # keyed by user: no card number in the key
        str(parse_transaction(v).user_id).encode() for v in good
    ]
    assert report.valid == 20 and report.blank == 1 and report.complete
    assert [(r.line, r.reason) for r in report.rejected] == [
        (6, "not_json"),
        (8, "bad_card_number"),
        (9, "wrong_type"),
        (10, "not_object"),
    ]
    assert seen == report.rejected


def test_crlf_line_endings(tmp_path: Path) -> None:
    good = [tx.to_json() for tx, _ in generate(seed=2, count=3)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\r\n".join(good))
    sink = FakeSink()
    report = replay(sink, path, rate=None)  # type: ignore[arg-type]
    assert report.valid == 3 and not report.rejected
