"""blocklist: the merchant, the country or the card of a transaction is on the
``blocklist`` table in PostgreSQL (migration 006).

The engine keeps a snapshot of the table (``engine.lookups.BlocklistCache``)
and re-reads it every ``cache_seconds``, so a row inserted or deleted there
takes effect within that time without restarting the job; while PostgreSQL
is away the last snapshot keeps serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import Finding, Params, RuleType

Kind = Literal["merchant", "country", "card_token"]


class BlocklistParams(Params):
    kinds: tuple[Kind, ...] = Field(default=("merchant", "country", "card_token"), min_length=1)
    cache_seconds: int = Field(default=10, ge=1, le=3600)
    """How often the snapshot of the block list is refreshed."""
    cache_max_rows: int = Field(default=100_000, ge=1)
    """Entries read at most; more are ignored with a warning."""


Entries = Mapping[tuple[str, str], str]
"""(kind, value) -> the reason it is on the list."""


def _shown(kind: str, tx: Tx) -> str:
    if kind == "merchant":
        return f"merchant {tx.merchant}"
    if kind == "country":
        return f"country {tx.country}"
    return f"card {tx.card_masked}"


def evaluate(params: BlocklistParams, entries: Entries, tx: Tx) -> Finding | None:
    if not entries:
        return None
    parts = []
    for kind in params.kinds:
        value = tx.card_token if kind == "card_token" else getattr(tx, kind)
        why = entries.get((kind, value))
        if why is not None:
            parts.append(f"{_shown(kind, tx)} is on the block list ({why or 'no reason given'})")
    if not parts:
        return None
    return Finding(1.0, "; ".join(parts), (tx.transaction_id,))


RULE_TYPE = RuleType(
    name="blocklist",
    params=BlocklistParams,
    evaluate=evaluate,
    scope="blocklist",
    episodic=False,
    summary="merchant, country or card on the PostgreSQL block list (cached snapshot)",
)
