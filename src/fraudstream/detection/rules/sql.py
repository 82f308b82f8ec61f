"""Small SQL builders shared by the rule types.

Every rule type ends in the same projection (``alert_select``) so the UNION ALL
over all rules has one schema: the columns of ``ALERT_COLUMNS`` with the same
types in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from fraudstream.records import Alert

# The alert contract less what the job adds (alert_id, detected_at), in order.
ALERT_COLUMNS = tuple(f.name for f in fields(Alert) if f.name not in ("alert_id", "detected_at"))

# Columns of the transaction an alert is about, copied unchanged from the source view.
TRANSACTION_COLUMNS = (
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
)


@dataclass(frozen=True)
class RuleRef:
    """What a template needs to know about the rule instance besides its params."""

    id: str
    type: str
    severity: str


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def string(text: str) -> str:
    # A bare literal is CHAR(n); UNION ALL needs every branch to be STRING.
    return f"CAST({quote(text)} AS STRING)"


def double(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE)"


def fmt(expr: str, decimals: int = 2) -> str:
    """A number as text with a fixed number of decimals, for reasons."""
    if decimals == 0:
        return f"CAST(CAST(ROUND({expr}, 0) AS BIGINT) AS STRING)"
    return f"CAST(CAST({expr} AS DECIMAL(20, {decimals})) AS STRING)"


def number(value: float) -> str:
    """A parameter as it should read in a reason: 5000.0 -> '5000', 2.5 -> '2.5'."""
    return f"{value:g}" if value < 1e15 else repr(value)


def interval(seconds: int) -> str:
    # DAY TO SECOND keeps every field within its default 2-digit precision
    # (a plain INTERVAL '3600' SECOND would need SECOND(4), which Flink rejects).
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def window_input(source_view: str, bound: int) -> str:
    """``source_view`` as the input of an OVER window whose bound is ``bound``.

    The planner tells OVER windows apart by a digest in which a bound is a
    reference to a constant, not its value: two rules whose windows differ
    only in length would share one window (the first one planned). A column
    computed from the bound gives each window an input of its own.
    """
    tag = f"TIMESTAMPADD(SECOND, -{int(bound)}, event_time) AS bound_{int(bound)}"
    return f"(SELECT *, {tag} FROM {source_view})"


def duration(seconds: int) -> str:
    """A window length as a person would say it: 60 -> '60 s', 600 -> '10 min'."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def json_escaped(column: str) -> str:
    """A string column made safe to place between double quotes in JSON."""
    return f"REPLACE(REPLACE({column}, '\\', '\\\\'), '\"', '\\\"')"


def json_ids(listagg_expr: str) -> str:
    """A JSON array from a LISTAGG(json_escaped(id), '","') expression."""
    return f"CONCAT('[\"', {listagg_expr}, '\"]')"


def json_id_list(*columns: str) -> str:
    """A JSON array of the given id columns (all non-null)."""
    inner = ", '\",\"', ".join(json_escaped(c) for c in columns)
    return f"CONCAT('[\"', {inner}, '\"]')"


def listagg_ids(column: str = "transaction_id") -> str:
    return f"LISTAGG({json_escaped(column)}, '\",\"')"


def ratio_score(value: str, limit: str) -> str:
    """0.5 just over the limit, 0.75 at twice the limit, towards 1 beyond."""
    return f"LEAST(1.0, GREATEST(0.0, 1.0 - 0.5 * ({limit}) / ({value})))"


def alert_select(rule: RuleRef, *, score: str, reason: str, evidence: str) -> str:
    """The SELECT list every rule type ends with (no FROM)."""
    columns = [
        f"{string(rule.id)} AS rule_id",
        f"{string(rule.type)} AS rule_type",
        f"{string(rule.severity)} AS severity",
        f"CAST({score} AS DOUBLE) AS score",
        f"CAST({reason} AS STRING) AS reason",
        "transaction_id",
        "card_masked",
        "card_token",
        "bank_id",
        "CAST(user_id AS BIGINT) AS user_id",
        "CAST(amount AS DOUBLE) AS amount",
        "currency",
        "merchant",
        "country",
        "payment_system",
        # A plain timestamp, not a time attribute: UNION ALL rejects a mix of
        # rowtime and non-rowtime columns (lookup joins, MATCH_RECOGNIZE).
        "CAST(event_time AS TIMESTAMP_LTZ(3)) AS event_time",
        f"CAST({evidence} AS STRING) AS evidence",
    ]
    return "SELECT " + ",\n       ".join(columns)
