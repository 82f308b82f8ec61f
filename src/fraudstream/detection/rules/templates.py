"""Flink SQL templates, one per rule type (placeholder: high_amount only)."""

from __future__ import annotations

from fraudstream.config import Settings
from fraudstream.detection.rules.catalogue import Catalogue, RuleInstance

ALERT_COLUMNS = (
    "rule_id",
    "rule_type",
    "severity",
    "score",
    "reason",
    "transaction_id",
    "card_masked",
    "card_token",
    "bank_id",
    "user_id",
    "amount",
    "currency",
    "merchant",
    "country",
    "payment_system",
    "event_time",
    "evidence",
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def high_amount(rule: RuleInstance, source_view: str) -> str:
    threshold = float(rule.params.get("threshold", 5000))
    return f"""
    SELECT {_quote(rule.id)} AS rule_id, {_quote(rule.type)} AS rule_type,
           {_quote(rule.severity)} AS severity,
           LEAST(1.0, amount / {threshold} / 2) AS score,
           CONCAT('amount ', CAST(amount AS STRING), ' ', currency, ' above limit ',
                  {_quote(str(threshold))}) AS reason,
           transaction_id, card_masked, card_token, bank_id, user_id, amount, currency,
           merchant, country, payment_system, event_time,
           CONCAT('["', transaction_id, '"]') AS evidence
    FROM {source_view}
    WHERE amount > {threshold}
    """


TEMPLATES = {"high_amount": high_amount}


def alerts_sql(catalogue: Catalogue, source_view: str, settings: Settings) -> str:
    del settings
    parts = [TEMPLATES[rule.type](rule, source_view) for rule in catalogue.enabled()]
    if not parts:
        raise ValueError("the rule catalogue has no enabled rule")
    return "\nUNION ALL\n".join(parts)
