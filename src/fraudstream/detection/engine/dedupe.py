"""The first record with a ``transaction_id`` wins.

A repeat of a transaction id is judged against a fingerprint of the first
record's content, not against the record itself, so the state per id is one
64-bit number:

* the same content again (a producer retry, a bank re-sending) is dropped:
  not archived, not evaluated, no alert;
* other content under the same id is rejected as ``duplicate_transaction_id``:
  it goes to the dead-letter topic, and neither the rules nor the archive see
  it.

"The same content" is the transaction as it is archived: the normalised
fields, without the Kafka timestamp (a re-send is appended later). So a
re-send that spells ``payment_system`` in another letter case, orders its JSON
keys differently or separates the card number's digits is still the same
transaction.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Final

from fraudstream.detection.engine.tx import FIELDS, Tx

REASON: Final = "duplicate_transaction_id"
_COMPARED: Final = tuple(i for i, name in enumerate(FIELDS) if name != "ingested_ms")


class Verdict(enum.Enum):
    FIRST = "first"
    REPEAT = "repeat"
    CONFLICT = "conflict"


def fingerprint(tx: Tx) -> int:
    """A stable 64-bit digest of the transaction's content (signed, for a LONG state).

    ``hash()`` is salted per process, so it would differ after a restart: a
    BLAKE2b digest of the fields' text is used instead.
    """
    text = "\x1f".join(repr(tx[i]) for i in _COMPARED)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def judge(seen: int | None, current: int) -> Verdict:
    """The verdict on a record whose fingerprint is ``current``, given the
    fingerprint ``seen`` of the first record with its id (None: none seen)."""
    if seen is None:
        return Verdict.FIRST
    return Verdict.REPEAT if seen == current else Verdict.CONFLICT


def detail(transaction_id: str) -> str:
    return f"transaction_id {transaction_id} was seen before with other content"
