"""card_enumeration: many distinct cards with neighbouring numbers at one merchant
in a short window.

Fraudsters who generate card numbers (consecutive account numbers of one
issuer, each with a valid check digit) try them one after the other at one
web shop. The merchant then sees, within minutes, many *distinct* cards of
the same issuer prefix (BIN, the first six digits) whose last four digits lie
close together. A busy honest merchant also sees many cards, but spread over
issuers and numbers: only cards that share this card's BIN and whose last
four digits are within ``last4_span`` of its own count. A card that comes
back is counted once. With ``max_amount`` or ``channels`` set, only
transactions that pass them (probes are small and online) reach the
merchant's profile at all (``admits``): a flash sale's ordinary purchases do
not count towards an enumeration, and a card that probed and then bought
still counts by its probe.

State is per merchant (keyed by merchant name) and small: at most ``memory``
distinct recent cards, each a short tuple (see ``engine/merchant.py``).
"""

from __future__ import annotations

from pydantic import Field

from fraudstream.detection.engine.merchant import (
    TOKEN_CHARS,
    MerchantProfile,
    SeenCard,
    card_parts,
)
from fraudstream.detection.engine.profile import Sizes
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules.types.base import (
    Finding,
    Params,
    PositiveAmount,
    RuleType,
    Seconds,
    duration,
    ratio_score,
)


class CardEnumerationParams(Params):
    window_seconds: Seconds = 300
    limit: int = Field(default=5, ge=1, le=200)
    """Fires when the neighbouring distinct cards, this one included, exceed it."""
    last4_span: int = Field(default=50, ge=0, le=9999)
    """Cards count when their last four digits differ from this card's by at most
    this much (9999: any card of the same BIN)."""
    max_amount: PositiveAmount | None = None
    """Only transactions of at most this amount count (probes are small); none: all."""
    channels: tuple[str, ...] = ()
    """Only transactions on these channels count (e.g. ``online``: a web shop);
    empty: every channel, and transactions without one."""
    memory: int = Field(default=40, ge=2, le=1000)
    """Distinct recent cards a merchant's profile keeps (a busy merchant's oldest go first)."""


def admits(params: CardEnumerationParams, tx: Tx) -> bool:
    """Only probes count (``max_amount``, ``channels``): the merchant's profile
    keeps nothing else, so nothing else needs to reach it."""
    return (params.max_amount is None or tx.amount <= params.max_amount) and (
        not params.channels or tx.channel in params.channels
    )


def evaluate(params: CardEnumerationParams, profile: MerchantProfile, tx: Tx) -> Finding | None:
    if not admits(params, tx):
        return None
    bin_, last4 = card_parts(tx.card_masked)
    if last4 < 0:
        return None
    width = params.window_seconds * 1000
    at = tx.event_ms
    own = tx.card_token[:TOKEN_CHARS]
    span = params.last4_span
    most = params.max_amount
    channels = params.channels
    # Raw tuples (SeenCard's fields): this runs on every probe at a merchant.
    # Cards seen after this one (by event time) count too: a probe that
    # arrives late, behind others of its enumeration from other Kafka
    # partitions, must fire as it would have in order.
    near = [
        SeenCard(*card)
        for card in profile.cards
        if at - width < card[0] < at + width
        and card[2] == bin_
        and card[1] != own
        and abs(card[3] - last4) <= span
        and (most is None or card[5] <= most)
        and (not channels or card[6] in channels)
    ]
    if len(near) < params.limit:
        return None
    window = _busiest(near, at, width)
    count = len(window) + 1
    if count <= params.limit:
        return None
    numbers = sorted({card.last4 for card in window} | {last4})
    # The cards come from many users, so from several Kafka partitions: which
    # one crosses the limit depends on how the partitions interleave (a replay
    # after a restart may differ). The earliest probe does not: it names the alert.
    first = min((card.ms, card.transaction_id) for card in window)
    anchor = first[1] if first < (at, tx.transaction_id) else None
    return Finding(
        ratio_score(count, params.limit),
        f"{count} distinct cards of BIN {bin_} with last digits {numbers[0]:04d}-{numbers[-1]:04d} "
        f"at {tx.merchant} within {duration(params.window_seconds)}, limit {params.limit}",
        (*(card.transaction_id for card in window), tx.transaction_id),
        anchor,
    )


def _busiest(near: list[SeenCard], at: int, width: int) -> list[SeenCard]:
    """The cards of the window (end - width, end] with ``at`` <= end < at + width
    that holds the most of them (the earliest such end on a tie). In arrival
    order no card is later than ``at``, and this is the window ending at it."""
    times = sorted(card.ms for card in near)
    best_end, best = at, -1
    for end in (at, *(t for t in times if t > at)):
        inside = sum(1 for t in times if end - width < t <= end)
        if inside > best:
            best_end, best = end, inside
    return [card for card in near if best_end - width < card.ms <= best_end]


RULE_TYPE = RuleType(
    name="card_enumeration",
    params=CardEnumerationParams,
    evaluate=evaluate,
    scope="merchant",
    sizes=lambda p: Sizes(cards=p.memory, window_s=p.window_seconds),
    cooldown=lambda p: p.window_seconds,
    admits=admits,
    summary="many distinct cards of one BIN with close numbers at one merchant within T",
)
