"""The user- and merchant-scope rule types on synthetic transactions: positive
case, boundary, honest look-alike."""

from __future__ import annotations

from typing import Any

from fraudstream.detection.engine.engine import Engine
from fraudstream.detection.engine.merchant import MerchantProfile
from fraudstream.detection.engine.profile import UserProfile
from fraudstream.detection.engine.tx import Tx
from fraudstream.detection.rules import parse_catalogue
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.base import Finding
from fraudstream.records import alert_id

from .conftest import Stream, ms, run


def user_findings(rule_type: str, params: dict[str, Any], txs: list[Tx]) -> list[Finding | None]:
    """One user-scope rule on each transaction against its user's profile."""
    kind = REGISTRY[rule_type]
    parsed = kind.parse(params)
    sizes = kind.sizes(parsed)
    users: dict[int, UserProfile] = {}
    out: list[Finding | None] = []
    for tx in txs:
        profile = users.setdefault(tx.user_id, UserProfile())
        out.append(kind.evaluate(parsed, profile, tx))
        profile.update(tx, (), sizes)
    return out


def merchant_findings(params: dict[str, Any], txs: list[Tx]) -> list[Finding | None]:
    kind = REGISTRY["card_enumeration"]
    parsed = kind.parse(params)
    sizes = kind.sizes(parsed)
    merchants: dict[str, MerchantProfile] = {}
    out: list[Finding | None] = []
    for tx in txs:
        profile = merchants.setdefault(tx.merchant, MerchantProfile())
        out.append(kind.evaluate(parsed, profile, tx))
        profile.update(tx, sizes)
    return out


def fired(findings: list[Finding | None], txs: list[Tx]) -> list[str]:
    return [t.transaction_id for t, f in zip(txs, findings, strict=True) if f is not None]


def masked(last4: int, bin_: str = "400000") -> str:
    return f"{bin_}******{last4:04d}"


# -- user_velocity -----------------------------------------------------------------


def spread(s: Stream, start: float, n: int, cards: str = "BCD", step: float = 5.0) -> list[Tx]:
    """n purchases of user 2 round-robin over ``cards``, ``step`` s apart."""
    return [
        s.tx(
            start + i * step, 30, card=cards[i % len(cards)], user=2, masked=masked(i % len(cards))
        )
        for i in range(n)
    ]


def test_user_velocity_counts_every_card_of_the_user() -> None:
    s = Stream()
    txs = spread(s, 0, 8)
    findings = user_findings("user_velocity", {"window_seconds": 60, "limit": 6}, txs)
    # The 7th in 30 s is the first above 6; no single card had more than 3.
    assert fired(findings, txs) == [txs[6].transaction_id, txs[7].transaction_id]
    finding = findings[6]
    assert finding is not None
    assert finding.reason == "7 transactions on 3 cards of user 2 in 60 s, limit 6"
    assert finding.evidence[-1] == txs[6].transaction_id and len(finding.evidence) == 7


def test_user_velocity_window_boundary_and_other_users() -> None:
    s = Stream()
    # 6 at t=0..25 s, the 7th exactly 60 s after the first: the first is outside.
    txs = [*spread(s, 0, 6), s.tx(60, 30, card="B", user=2, masked=masked(0))]
    # Another user's purchases never count for user 2.
    txs += [s.tx(61 + i, 30, card="Z", user=9) for i in range(3)]
    findings = user_findings("user_velocity", {"window_seconds": 60, "limit": 6}, txs)
    assert fired(findings, txs) == []


def test_user_velocity_min_cards_leaves_single_card_bursts_alone() -> None:
    s = Stream()
    one_card = [s.tx(i, 30, card="B", user=2) for i in range(10)]
    params = {"window_seconds": 60, "limit": 6, "min_cards": 2}
    assert fired(user_findings("user_velocity", params, one_card), one_card) == []
    s = Stream()
    two_cards = spread(s, 0, 10, cards="BC")
    assert len(fired(user_findings("user_velocity", params, two_cards), two_cards)) == 4


def test_user_velocity_late_record_counts_in_later_windows() -> None:
    s = Stream()
    txs = [*spread(s, 10, 5), s.tx(5, 30, card="B", user=2, masked=masked(0))]  # last is late
    txs.append(s.tx(40, 30, card="C", user=2, masked=masked(1)))
    findings = user_findings("user_velocity", {"window_seconds": 60, "limit": 6}, txs)
    assert fired(findings, txs) == [txs[-1].transaction_id]


# -- card_enumeration ------------------------------------------------------------


def enumeration(s: Stream, start: float, n: int, *, first: int = 1200, gap: int = 7) -> list[Tx]:
    """n cards of one BIN with neighbouring last digits at one web shop."""
    return [
        s.tx(
            start + i * 3,
            1.0,
            card=f"G{i}",
            user=100 + i,
            merchant="Web Shop",
            masked=masked(first + i * gap),
        )
        for i in range(n)
    ]


def test_card_enumeration_fires_on_neighbouring_cards() -> None:
    s = Stream()
    txs = enumeration(s, 0, 8)
    findings = merchant_findings({"window_seconds": 300, "limit": 5, "last4_span": 50}, txs)
    # The 6th distinct neighbouring card is the first above 5.
    assert fired(findings, txs) == [t.transaction_id for t in txs[5:8]]
    finding = findings[5]
    assert finding is not None
    assert finding.reason == (
        "6 distinct cards of BIN 400000 with last digits 1200-1235 at Web Shop within 5 min, "
        "limit 5"
    )
    assert finding.evidence == tuple(t.transaction_id for t in txs[:6])


def test_card_enumeration_names_its_alert_by_the_earliest_probe_whatever_arrives_last() -> None:
    """Probes come from many users, so from several Kafka partitions: a replay
    may interleave them differently. The alert keeps its id."""
    rules = {"rules": [{"id": "enum", "type": "card_enumeration", "params": {"limit": 5}}]}
    txs = enumeration(Stream(), 0, 6)
    in_order = run(Engine(parse_catalogue(rules)), txs)
    shuffled = run(Engine(parse_catalogue(rules)), [txs[1], txs[3], txs[0], *txs[4:], txs[2]])
    assert [a.alert_id for a in in_order] == [alert_id("enum", txs[0].transaction_id)]
    assert [a.alert_id for a in shuffled] == [in_order[0].alert_id]
    assert in_order[0].transaction_id == txs[5].transaction_id  # the one that crossed the limit
    assert shuffled[0].transaction_id == txs[2].transaction_id


def test_card_enumeration_counts_a_returning_card_once() -> None:
    s = Stream()
    txs = []
    for i in range(10):  # two cards taking turns: retries, not enumeration
        txs.append(s.tx(i, 1.0, card="HI"[i % 2], merchant="Web Shop", masked=masked(1200 + i % 2)))
    findings = merchant_findings({"limit": 1}, txs)
    assert fired(findings, txs) == [t.transaction_id for t in txs[1:]]  # 2 cards > 1
    assert all(f is None for f in merchant_findings({"limit": 2}, txs))


def test_busy_honest_merchant_with_spread_numbers_does_not_fire() -> None:
    s = Stream()
    txs = []
    for i in range(200):  # 200 cards in 200 s, same BIN, last digits far apart
        txs.append(
            s.tx(
                i,
                40.0,
                card=f"K{i}",
                user=i,
                merchant="FreshMart",
                masked=masked((i * 397) % 10000),
            )
        )
    findings = merchant_findings({"window_seconds": 300, "limit": 5, "last4_span": 50}, txs)
    assert fired(findings, txs) == []


def test_card_enumeration_other_bins_other_merchants_and_old_cards_do_not_count() -> None:
    s = Stream()
    txs = enumeration(s, 0, 3)
    txs += [  # other issuers at the same shop
        s.tx(10 + i, 1.0, card=f"L{i}", merchant="Web Shop", masked=masked(1210, bin_="511111"))
        for i in range(3)
    ]
    txs += [  # the same neighbours at another shop
        s.tx(20 + i, 1.0, card=f"M{i}", merchant="Other Shop", masked=masked(1203 + i))
        for i in range(3)
    ]
    txs += enumeration(Stream(), 400, 3, first=1250)  # the first three left the window
    findings = merchant_findings({"window_seconds": 300, "limit": 5, "last4_span": 50}, txs)
    assert fired(findings, txs) == []


def test_card_enumeration_max_amount_ignores_large_purchases() -> None:
    s = Stream()
    txs = enumeration(s, 0, 8)
    params = {"limit": 5, "max_amount": 0.5}
    assert fired(merchant_findings(params, txs), txs) == []


def test_card_enumeration_counts_only_cards_whose_purchase_passes_the_filters() -> None:
    s = Stream()
    params = {"limit": 3, "last4_span": 9999, "max_amount": 5, "channels": ["online"]}
    # A flash sale: many cards of one BIN at one shop, ordinary amounts, online.
    sale = [
        s.tx(i, 40.0, card=f"P{i}", user=200 + i, merchant="Web Shop", masked=masked(i * 911))
        for i in range(20)
    ]
    # Three tiny purchases there among them: three probing cards are not above 3.
    tiny = [
        s.tx(20 + i, 1.5, card=f"Q{i}", user=300 + i, merchant="Web Shop", masked=masked(i * 1000))
        for i in range(3)
    ]
    # Tiny in-store purchases (pos) do not count either.
    shop = [
        s.tx(25 + i, 1.5, card=f"R{i}", user=400 + i, merchant="Web Shop", masked=masked(i * 7))
        for i in range(5)
    ]
    txs = [t._replace(channel="online") for t in sale + tiny] + [
        t._replace(channel="pos") for t in shop
    ]
    assert fired(merchant_findings(params, txs), txs) == []
    # A fourth tiny online card is one too many.
    extra = s.tx(40, 0.9, card="Q9", user=399, merchant="Web Shop", masked=masked(9000))
    txs.append(extra._replace(channel="online"))
    findings = merchant_findings(params, txs)
    assert fired(findings, txs) == [extra.transaction_id]
    finding = findings[-1]
    assert finding is not None
    assert finding.evidence == (*(t.transaction_id for t in tiny), extra.transaction_id)


def test_catalogue_card_enumeration_fires_on_consecutive_account_numbers() -> None:
    """Consecutive account numbers of one issuer, as the simulator builds them,
    masked: their last four digits are far apart, their BIN is shared."""
    import random

    from fraudstream.detection.rules.catalogue import load_catalogue
    from fraudstream.redact import mask_card
    from fraudstream.simulator.population import bank_iins, card_number

    rule = next(r for r in load_catalogue().rules if r.id == "card-enumeration")
    params = dict(rule.params)
    iin = bank_iins("BANK_A")["VISA"]
    rng = random.Random(1)
    s = Stream()
    txs = []
    for i in range(8):
        number = card_number(iin, "VISA", 5000 + i, 0, rng)
        tx = s.tx(
            i * 9, 1.2, card=f"E{i}", user=5000 + i, merchant="AppNest", masked=mask_card(number)
        )
        txs.append(tx._replace(channel="online"))
    last4 = sorted(int(t.card_masked[-4:]) for t in txs)
    assert last4[-1] - last4[0] > 5000  # neighbouring numbers, distant last four
    findings = merchant_findings(params, txs)
    # The 6th distinct card of the BIN is the first above the limit of 5.
    assert fired(findings, txs) == [t.transaction_id for t in txs[5:]]
    # The same cards paying ordinary amounts (a busy shop) do not fire.
    honest = [t._replace(amount=25.0) for t in txs]
    assert fired(merchant_findings(params, honest), honest) == []


def test_merchant_profile_stays_bounded_for_a_hot_merchant() -> None:
    import pickle

    kind = REGISTRY["card_enumeration"]
    sizes = kind.sizes(kind.parse({"memory": 40}))
    profile = MerchantProfile()
    s = Stream()
    for i in range(5000):
        profile.update(
            s.tx(i * 0.1, 20.0, card=f"N{i}", merchant="Hot", masked=masked(i % 10000)), sizes
        )
    assert len(profile.cards) == 40
    restored = MerchantProfile.from_state(pickle.loads(pickle.dumps(profile.to_state())))
    assert restored.cards == profile.cards and restored.seen == 5000
    # Measured: about 3.3 KB at 40 cards.
    assert len(pickle.dumps(profile.to_state())) < 4096


def test_merchant_profile_version_1_cards_count_only_without_filters() -> None:
    s = Stream()
    txs = enumeration(s, 0, 6)
    v1_cards = [
        (t.event_ms, t.card_token[:16], "400000", int(t.card_masked[-4:]), t.transaction_id)
        for t in txs[:5]
    ]
    kind = REGISTRY["card_enumeration"]
    last = txs[5]._replace(channel="online")
    for params, fires in (({"limit": 5}, True), ({"limit": 5, "max_amount": 5}, False)):
        profile = MerchantProfile.from_state((1, 5, txs[4].event_ms, list(v1_cards), {}))
        assert len(profile.cards) == 5
        finding = kind.evaluate(kind.parse(params), profile, last)
        assert (finding is not None) is fires


# -- merchant_category_risk ---------------------------------------------------------


def habits(s: Stream, n: int, amount: float = 30.0, user: int = 3) -> list[Tx]:
    return [s.tx(i * 60, amount, card="P", user=user, category="5411") for i in range(n)]


def test_several_risky_categories_fire() -> None:
    s = Stream()
    txs = habits(s, 2)
    txs.append(s.tx(200, 120, card="P", user=3, category="7995", merchant="LuckyStar Casino"))
    txs.append(s.tx(320, 150, card="P", user=3, category="6051", merchant="CoinVault Exchange"))
    findings = user_findings("merchant_category_risk", {}, txs)
    assert fired(findings, txs) == [txs[3].transaction_id]
    finding = findings[3]
    assert finding is not None
    assert finding.reason == (
        "150.00 USD at CoinVault Exchange (crypto / quasi-cash) by user 3: 2 risky categories "
        "(crypto / quasi-cash, gambling) within 1 h, limit 2"
    )


def test_new_and_large_risky_purchase_fires() -> None:
    s = Stream()
    txs = habits(s, 5)  # mean 30
    txs.append(s.tx(400, 95, card="P", user=3, category="4829"))  # 3.2x, new
    findings = user_findings("merchant_category_risk", {}, txs)
    assert fired(findings, txs) == [txs[-1].transaction_id]
    finding = findings[-1]
    assert finding is not None and "new for user 3" in finding.reason and "3.2x" in finding.reason


def test_honest_gambler_does_not_fire() -> None:
    s = Stream()
    txs = habits(s, 5)
    # A regular: gambles at about twice their usual amount, again and again.
    txs += [s.tx(400 + i * 900, 60, card="P", user=3, category="7995") for i in range(6)]
    assert fired(user_findings("merchant_category_risk", {}, txs), txs) == []


def test_risky_category_boundaries() -> None:
    s = Stream()
    txs = habits(s, 5)
    txs.append(s.tx(400, 49.99, card="P", user=3, category="7995"))  # below min_amount
    txs.append(s.tx(401, 89.99, card="P", user=3, category="6051"))  # a second category
    findings = user_findings("merchant_category_risk", {"min_amount": 50}, txs)
    # The small gambling purchase is remembered: crypto after it makes two categories.
    assert fired(findings, txs) == [txs[-1].transaction_id]
    # A newcomer (fewer than min_history earlier amounts) is not judged on newness.
    s = Stream()
    new_user = [s.tx(0, 20, card="Q", user=8), s.tx(10, 500, card="Q", user=8, category="4829")]
    assert fired(user_findings("merchant_category_risk", {}, new_user), new_user) == []
    # A transaction without a category never fires.
    s = Stream()
    plain = [*habits(s, 5), s.tx(400, 900, card="P", user=3)]
    assert fired(user_findings("merchant_category_risk", {}, plain), plain) == []


def test_user_profile_state_round_trip_and_version_1() -> None:
    import pickle

    kind = REGISTRY["merchant_category_risk"]
    sizes = kind.sizes(kind.parse({}))
    s = Stream()
    profile = UserProfile()
    for tx in [*habits(s, 3), s.tx(300, 80, card="P", user=3, category="7995")]:
        profile.update(tx, (120,), sizes)
    restored = UserProfile.from_state(pickle.loads(pickle.dumps(profile.to_state())))
    assert restored.risky == {"7995": ms(300)}
    assert restored.amounts == profile.amounts and restored.windows == profile.windows
    # A savepoint of the tumbling-window-only profile still loads.
    old = UserProfile.from_state((1, {120: [5, 1, ["US"], ["x"]]}, {}))
    assert old.windows == {120: [5, 1, ["US"], ["x"]]} and old.history == []
