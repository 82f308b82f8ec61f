"""blocklist: the merchant, the country or the card of a transaction is on the
``blocklist`` table in PostgreSQL (migration 006).

Each transaction looks the table up through a JDBC lookup join
``FOR SYSTEM_TIME AS OF proc_time`` with a short cache, so a row inserted or
deleted there takes effect within ``cache_seconds`` without restarting the
job. The table is declared by ``ddl()``; the job runs it before the alerts
query.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field

from fraudstream.config import Settings
from fraudstream.detection.rules.sql import RuleRef, alert_select, json_id_list, quote
from fraudstream.detection.rules.types.base import Params, RuleType

Kind = Literal["merchant", "country", "card_token"]
# The transaction column each kind of entry is matched against.
COLUMN_OF: dict[str, str] = {
    "merchant": "merchant",
    "country": "country",
    "card_token": "card_token",
}
# What a reason calls the matched value; a card is named by its masked number.
SHOWN_AS: dict[str, str] = {
    "merchant": "CONCAT('merchant ', merchant)",
    "country": "CONCAT('country ', country)",
    "card_token": "CONCAT('card ', card_masked)",
}


class BlocklistParams(Params):
    kinds: tuple[Kind, ...] = Field(default=("merchant", "country", "card_token"), min_length=1)
    cache_seconds: int = Field(default=10, ge=0, le=3600)
    """How long a looked-up entry (or its absence) is cached; 0 disables the cache."""
    cache_max_rows: int = Field(default=100_000, ge=1)


def table_name(rule: RuleRef) -> str:
    return "rule_blocklist_" + re.sub(r"[^a-z0-9]", "_", rule.id.lower())


def jdbc_url(settings: Settings) -> tuple[str, str, str]:
    """(jdbc url, user, password) from the settings' libpq DSN."""
    parts = urlsplit(settings.dsn)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ValueError("the blocklist rule needs a postgresql://user:pass@host:port/db DSN")
    database = parts.path.lstrip("/") or (parts.username or "")
    url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}/{database}"
    if parts.query:
        url += "?" + parts.query
    return url, unquote(parts.username or ""), unquote(parts.password or "")


def ddl(rule: RuleRef, params: BlocklistParams, settings: Settings) -> list[str]:
    url, user, password = jdbc_url(settings)
    options = {
        "connector": "jdbc",
        "url": url,
        "table-name": "blocklist",
        "username": user,
        "password": password,
    }
    if params.cache_seconds > 0:
        options |= {
            "lookup.cache": "PARTIAL",
            "lookup.partial-cache.expire-after-write": f"{params.cache_seconds}s",
            "lookup.partial-cache.max-rows": str(params.cache_max_rows),
            "lookup.partial-cache.cache-missing-key": "true",
        }
    with_clause = ",\n  ".join(f"{quote(k)} = {quote(v)}" for k, v in options.items())
    return [
        f"""CREATE TEMPORARY TABLE IF NOT EXISTS {table_name(rule)} (
  kind STRING,
  `value` STRING,
  reason STRING,
  PRIMARY KEY (kind, `value`) NOT ENFORCED
) WITH (
  {with_clause}
)"""
    ]


def _alias(kind: str) -> str:
    return f"b_{kind}"


def sql(rule: RuleRef, params: BlocklistParams, source_view: str, settings: Settings) -> str:
    del settings
    table = table_name(rule)
    joins = []
    hits = []
    for kind in params.kinds:
        alias = _alias(kind)
        joins.append(
            f"LEFT JOIN {table} FOR SYSTEM_TIME AS OF s.proc_time AS {alias}\n"
            f"  ON {alias}.kind = {quote(kind)} AND {alias}.`value` = s.{COLUMN_OF[kind]}"
        )
        hits.append(
            f"{alias}.kind IS NOT NULL AS hit_{kind}, "
            f"COALESCE(NULLIF({alias}.reason, ''), 'no reason given') AS why_{kind}"
        )
    parts = ", ".join(
        f"CASE WHEN hit_{kind} THEN CONCAT({SHOWN_AS[kind]}, ' is on the block list (', "
        f"why_{kind}, ')') END"
        for kind in params.kinds
    )
    reason = f"CONCAT_WS('; ', {parts})"
    select = alert_select(rule, score="1.0", reason=reason, evidence=json_id_list("transaction_id"))
    any_hit = " OR ".join(f"hit_{kind}" for kind in params.kinds)
    join_text = "\n".join(joins)
    hint = ""
    if "card_token" in params.kinds:
        # Hashed by card first: each subtask caches its own share of the cards.
        hint = f"/*+ LOOKUP('table'='{_alias('card_token')}', 'shuffle'='true') */ "
    return f"""{select}
FROM (
  SELECT {hint}s.*, {", ".join(hits)}
  FROM {source_view} AS s
  {join_text}
)
WHERE {any_hit}"""


RULE_TYPE = RuleType(
    name="blocklist",
    params=BlocklistParams,
    sql=sql,
    ddl=ddl,
    summary="merchant, country or card on the PostgreSQL block list (lookup join, short cache)",
)
