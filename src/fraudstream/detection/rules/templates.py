"""The alerts query and the DDL it needs, assembled from the rule types.

Each enabled rule contributes one SELECT (see ``types/``); they are joined by
UNION ALL into the one query the job reads alerts from.
"""

from __future__ import annotations

from typing import Any

from fraudstream.config import Settings
from fraudstream.detection.rules.catalogue import Catalogue, RuleInstance
from fraudstream.detection.rules.sql import ALERT_COLUMNS
from fraudstream.detection.rules.types import REGISTRY


def rule_sql(rule: RuleInstance, source_view: str, settings: Settings) -> str:
    """The SELECT of one rule instance, with the columns of ``ALERT_COLUMNS``."""
    return REGISTRY[rule.type].sql(rule.ref, rule.typed_params(), source_view, settings)


def alerts_sql(catalogue: Catalogue, source_view: str, settings: Settings) -> str:
    """One SELECT over ``source_view``: UNION ALL of the enabled rules."""
    rules = catalogue.enabled()
    if not rules:
        raise ValueError("the rule catalogue has no enabled rule")
    columns = ", ".join(ALERT_COLUMNS)
    parts = [
        f"SELECT {columns} FROM (\n-- rule {rule.id} ({rule.type})\n"
        f"{rule_sql(rule, source_view, settings)}\n)"
        for rule in rules
    ]
    return "\nUNION ALL\n".join(parts)


def ddl(catalogue: Catalogue, settings: Settings) -> list[str]:
    """CREATE TEMPORARY TABLE/VIEW statements the alerts query needs; the job
    runs them, in order, before ``alerts_sql``. Empty when no enabled rule
    reads an external table."""
    statements: list[str] = []
    for rule in catalogue.enabled():
        rule_type = REGISTRY[rule.type]
        if rule_type.ddl is not None:
            statements.extend(rule_type.ddl(rule.ref, rule.typed_params(), settings))
    return statements


def register_alerts_view(
    t_env: Any, catalogue: Catalogue, source_view: str, settings: Settings, name: str
) -> None:
    """Run ``ddl()`` and register ``alerts_sql()`` as the temporary view ``name``.

    The view goes through the Table API, not ``CREATE TEMPORARY VIEW ... AS``:
    Flink 2.2.0 stores a SQL view as re-parsed text and cannot re-parse
    MATCH_RECOGNIZE (FLINK-39293, fixed in 2.2.1), so any statement reading a
    SQL view of the alerts query fails to parse. A Table API view keeps the
    planned query instead; SQL views and INSERTs on top of it work.
    """
    for statement in ddl(catalogue, settings):
        t_env.execute_sql(statement)
    t_env.create_temporary_view(name, t_env.sql_query(alerts_sql(catalogue, source_view, settings)))


__all__ = ["ALERT_COLUMNS", "alerts_sql", "ddl", "register_alerts_view", "rule_sql"]
