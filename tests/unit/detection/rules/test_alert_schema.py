"""Golden check: every rule type's query plans in Flink with exactly the
columns and types of ALERT_COLUMNS, in order."""

from __future__ import annotations

import re

import pytest

from fraudstream.detection.rules import (
    ALERT_COLUMNS,
    alerts_sql,
    ddl,
    load_catalogue,
    register_alerts_view,
)
from fraudstream.detection.rules.catalogue import Catalogue
from fraudstream.detection.rules.types import REGISTRY

from .conftest import RuleRunner, Stream

EXPECTED_TYPES = {
    "score": "DOUBLE",
    "user_id": "BIGINT",
    "amount": "DOUBLE",
    "event_time": "TIMESTAMP_LTZ(3)",
}


def catalogue_of_every_type() -> Catalogue:
    return load_catalogue(packs=["seed-baseline"])


def test_catalogue_covers_every_type() -> None:
    assert {r.type for r in catalogue_of_every_type().enabled()} == set(REGISTRY)


@pytest.mark.parametrize("rule_type", sorted(REGISTRY))
def test_alert_columns_per_rule_type(runner: RuleRunner, rule_type: str) -> None:
    full = catalogue_of_every_type()
    catalogue = Catalogue(rules=tuple(r for r in full.enabled() if r.type == rule_type))
    view = runner.register(Stream())
    for statement in ddl(catalogue, runner.settings):
        runner.env.execute_sql(statement)
    table = runner.env.sql_query(alerts_sql(catalogue, view, runner.settings))
    # The Java schema prints SQL types ("TIMESTAMP_LTZ(3) *ROWTIME*").
    columns = list(table._j_table.getResolvedSchema().getColumns())
    assert tuple(str(c.getName()) for c in columns) == ALERT_COLUMNS
    for name, column in zip(ALERT_COLUMNS, columns, strict=True):
        text = str(column.getDataType())
        expected = EXPECTED_TYPES.get(name, "STRING")
        assert text.startswith(expected), f"{rule_type}: {name} is {text}, want {expected}"
        assert "ROWTIME" not in text


def test_whole_catalogue_is_one_append_only_query(runner: RuleRunner) -> None:
    from pyflink.table.explain_detail import ExplainDetail

    catalogue = catalogue_of_every_type()
    view = runner.register(Stream())
    for statement in ddl(catalogue, runner.settings):
        runner.env.execute_sql(statement)
    query = alerts_sql(catalogue, view, runner.settings)
    table = runner.env.sql_query(query)
    columns = list(table._j_table.getResolvedSchema().getColumns())
    assert tuple(str(c.getName()) for c in columns) == ALERT_COLUMNS
    # Sinks (Kafka, JDBC upsert by alert id) expect inserts only.
    plan = runner.env.explain_sql(query, ExplainDetail.CHANGELOG_MODE)
    optimized = plan.split("== Optimized Physical Plan ==")[1]
    modes = set(re.findall(r"changelogMode=\[([A-Z,]+)\]", optimized))
    assert modes == {"I"}


def test_alerts_view_can_be_read_by_sql_views(runner: RuleRunner) -> None:
    """The job builds SQL views and INSERTs on top of the alerts query; with
    MATCH_RECOGNIZE inside, that only works through register_alerts_view."""
    catalogue = catalogue_of_every_type()
    view = runner.register(Stream())
    register_alerts_view(runner.env, catalogue, view, runner.settings, "rule_alerts_test")
    runner.env.execute_sql(
        "CREATE TEMPORARY VIEW alerts_with_id_test AS SELECT "
        "MD5(CONCAT(rule_id, ':', transaction_id)) AS alert_id, * FROM rule_alerts_test"
    )
    table = runner.env.sql_query("SELECT * FROM alerts_with_id_test")
    columns = [str(c.getName()) for c in table._j_table.getResolvedSchema().getColumns()]
    assert columns == ["alert_id", *ALERT_COLUMNS]
