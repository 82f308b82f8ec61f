"""Known archive contents for the dashboard tests, with numbers to assert on."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from fraudstream.records import Alert, alert_id, card_token, mask_card

KEY = "dashboard-test-key"
CARDS = {
    "visa": ("4111111111111111", "VISA"),
    "mc": ("5555555555554444", "MASTERCARD"),
    "amex": ("378282246310005", "AMEX"),
}
DRILL_USER = 4242


@dataclass(frozen=True)
class Seeded:
    now: datetime
    alerts: list[Alert]
    transactions: int
    bank_a_transactions: int
    bank_b_transactions: int
    triaged_alert_id: str
    old_alert_id: str
    case_id: str
    """the case of alerts[0] and alerts[1] (two high-amount alerts of one card)"""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tx_row(
    *,
    bank: str,
    card: str,
    user: int,
    amount: float,
    country: str,
    when: datetime,
    merchant: str = "Corner Shop",
) -> dict[str, Any]:
    number, system = CARDS[card]
    return {
        "transaction_id": str(uuid.uuid4()),
        "bank_id": bank,
        "payment_system": system,
        "card_masked": mask_card(number),
        "card_token": card_token(number, KEY),
        "user_id": user,
        "amount": amount,
        "currency": "EUR",
        "merchant": merchant,
        "country": country,
        "event_time": when,
    }


def make_alert(
    tx: dict[str, Any],
    *,
    rule: str,
    severity: str,
    latency: float,
    reason: str | None = None,
    detected_at: datetime | None = None,
    case_id: str | None = None,
) -> Alert:
    detected = detected_at or tx["event_time"] + timedelta(seconds=latency)
    return Alert(
        alert_id=alert_id(rule, tx["transaction_id"]),
        rule_id=rule,
        rule_type=rule.replace("-", "_"),
        severity=severity,
        score=0.9,
        reason=reason or f"{rule} fired on {tx['amount']:.2f}",
        transaction_id=tx["transaction_id"],
        card_masked=tx["card_masked"],
        card_token=tx["card_token"],
        bank_id=tx["bank_id"],
        user_id=tx["user_id"],
        amount=tx["amount"],
        currency=tx["currency"],
        merchant=tx["merchant"],
        country=tx["country"],
        payment_system=tx["payment_system"],
        event_time=iso(tx["event_time"]),
        detected_at=iso(detected),
        evidence=(tx["transaction_id"],),
        case_id=case_id,
    )


def insert_transactions(conn: psycopg.Connection[Any], rows: list[dict[str, Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO transactions (transaction_id, bank_id, payment_system, card_masked,"
            " card_token, user_id, amount, currency, merchant, country, event_time)"
            " VALUES (%(transaction_id)s, %(bank_id)s, %(payment_system)s, %(card_masked)s,"
            " %(card_token)s, %(user_id)s, %(amount)s, %(currency)s, %(merchant)s,"
            " %(country)s, %(event_time)s)",
            rows,
        )


def insert_alerts(conn: psycopg.Connection[Any], alerts: list[Alert]) -> None:
    rows = []
    for a in alerts:
        row = a.to_dict()
        row["evidence"] = json.dumps(row["evidence"])
        rows.append(row)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alerts (alert_id, rule_id, rule_type, severity, score, reason,"
            " transaction_id, card_masked, card_token, bank_id, user_id, amount, currency,"
            " merchant, country, payment_system, event_time, detected_at, evidence, case_id)"
            " VALUES (%(alert_id)s, %(rule_id)s, %(rule_type)s, %(severity)s, %(score)s,"
            " %(reason)s, %(transaction_id)s, %(card_masked)s, %(card_token)s, %(bank_id)s,"
            " %(user_id)s, %(amount)s, %(currency)s, %(merchant)s, %(country)s,"
            " %(payment_system)s, %(event_time)s, %(detected_at)s, %(evidence)s, %(case_id)s)"
            " ON CONFLICT (alert_id) DO NOTHING",
            rows,
        )


def seed(dsn: str) -> Seeded:
    """BANK_A: 60 transactions, 3 alerts; BANK_B: 30 transactions, 1 recent + 1 old alert."""
    now = datetime.now(UTC)
    txs: list[dict[str, Any]] = []
    for i in range(60):
        txs.append(
            tx_row(
                bank="BANK_A",
                card="visa",
                user=1000 + i % 7,
                amount=20.0 + i,
                country="DE",
                when=now - timedelta(seconds=10 + i * 5),
            )
        )
    for i in range(30):
        txs.append(
            tx_row(
                bank="BANK_B",
                card="mc",
                user=2000 + i % 5,
                amount=15.0 + i,
                country="US",
                when=now - timedelta(seconds=12 + i * 9),
            )
        )
    # The drill-down subject: user 4242 with an AMEX card, 4 transactions.
    drill = [
        tx_row(
            bank="BANK_A",
            card="amex",
            user=DRILL_USER,
            amount=a,
            country=c,
            when=now - timedelta(seconds=s),
            merchant="Far Away Travel",
        )
        for a, c, s in ((9100.0, "FR", 40), (25.0, "DE", 300), (31.0, "DE", 400), (8.0, "DE", 500))
    ]
    txs.extend(drill)
    # The first two alerts (one card) form one case, named by the first.
    case_id = alert_id("high-amount", txs[0]["transaction_id"])
    alerts = [
        make_alert(txs[0], rule="high-amount", severity="high", latency=0.5, case_id=case_id),
        make_alert(txs[1], rule="high-amount", severity="high", latency=1.0, case_id=case_id),
        make_alert(
            drill[0],
            rule="geo-jump",
            severity="critical",
            latency=1.5,
            reason="FR 5 minutes after DE",
        ),
        make_alert(txs[60], rule="velocity", severity="medium", latency=2.0),
    ]
    old_tx = tx_row(
        bank="BANK_B",
        card="mc",
        user=2001,
        amount=777.0,
        country="GB",
        when=now - timedelta(days=2),
    )
    old = make_alert(old_tx, rule="high-amount", severity="low", latency=3.0)
    with psycopg.connect(dsn, autocommit=True) as conn:
        insert_transactions(conn, [*txs, old_tx])
        insert_alerts(conn, [*alerts, old])
        conn.execute(
            "INSERT INTO alert_triage (alert_id, verdict, analyst, note)"
            " VALUES (%s, 'confirmed_fraud', 'seed', 'seeded verdict')",
            (alerts[2].alert_id,),
        )
        conn.execute(
            "INSERT INTO fraud_labels (transaction_id, scenario_id, scenario, step, is_trigger,"
            " bank_id) VALUES (%s, 's1', 'geo_jump', 1, true, 'BANK_A')",
            (drill[0]["transaction_id"],),
        )
    return Seeded(
        now=now,
        alerts=alerts,
        transactions=len(txs),
        bank_a_transactions=64,
        bank_b_transactions=30,
        triaged_alert_id=alerts[2].alert_id,
        old_alert_id=old.alert_id,
        case_id=case_id,
    )
