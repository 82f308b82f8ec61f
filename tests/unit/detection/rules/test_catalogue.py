"""Loading and validating the catalogue, packs, and the shape of the SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudstream.detection.rules import (
    CatalogueError,
    alerts_sql,
    ddl,
    load_catalogue,
    parse_catalogue,
    with_packs,
)
from fraudstream.detection.rules.sql import interval
from fraudstream.detection.rules.types import REGISTRY

from .conftest import rule_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_default_catalogue_has_every_type() -> None:
    catalogue = load_catalogue()
    enabled_types = {r.type for r in catalogue.enabled()}
    assert enabled_types == set(REGISTRY) - {"tumbling_window"}
    assert all(r.pack == "default" for r in catalogue.enabled())
    seed = [r for r in catalogue.rules if r.pack == "seed-baseline"]
    assert {r.id for r in seed} == {"seed-high-amount", "seed-user-velocity", "seed-user-countries"}
    assert not any(r.enabled for r in seed)


def test_packs_switch_on_their_rules() -> None:
    catalogue = load_catalogue(packs=["seed-baseline"])
    assert {r.id for r in catalogue.enabled()} >= {
        "seed-high-amount",
        "seed-user-velocity",
        "seed-user-countries",
        "high-amount",
    }
    same = with_packs(load_catalogue(), ["seed-baseline"])
    assert same == catalogue
    with pytest.raises(CatalogueError, match="unknown rule pack"):
        load_catalogue(packs=["nope"])


def test_disabled_default_rule_stays_off(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - {id: a, type: high_amount, enabled: false}
  - {id: b, type: card_velocity}
""",
    )
    catalogue = load_catalogue(path, packs=["default"])
    # Naming a pack switches its rules on, the default pack included.
    assert {r.id for r in catalogue.enabled()} == {"a", "b"}
    assert {r.id for r in load_catalogue(path).enabled()} == {"b"}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"id": "x", "type": "teleport"}], "rule 'x': unknown type 'teleport'"),
        (
            [{"id": "x", "type": "card_velocity", "params": {"limit": 0}}],
            "rule 'x' (card_velocity): invalid params: limit",
        ),
        (
            [{"id": "x", "type": "card_velocity", "params": {"limit": "many"}}],
            "limit: Input should be a valid integer",
        ),
        (
            [{"id": "x", "type": "card_velocity", "params": {"window": 60}}],
            "window: Extra inputs are not permitted",
        ),
        (
            [{"id": "x", "type": "high_amount", "params": {"per_currency": {"usd": 10}}}],
            "per_currency.usd",
        ),
        (
            [{"id": "x", "type": "high_amount", "params": {"threshold": -1}}],
            "threshold: Input should be greater than 0",
        ),
        (
            [{"id": "x", "type": "amount_spike", "params": {"history": 3, "min_history": 5}}],
            "min_history (5) cannot exceed history (3)",
        ),
        (
            [{"id": "x", "type": "card_testing", "params": {"small_max": 200}}],
            "small_max (200.0) must be below large_min (100.0)",
        ),
        (
            [{"id": "x", "type": "blocklist", "params": {"kinds": ["iban"]}}],
            "kinds.0",
        ),
        ([{"id": "x", "type": "high_amount", "severity": "extreme"}], "severity"),
        ([{"id": "Bad Id", "type": "high_amount"}], "id"),
        ([{"type": "high_amount"}], "id: Field required"),
        (
            [{"id": "x", "type": "high_amount"}, {"id": "x", "type": "card_velocity"}],
            "duplicate rule ids: x",
        ),
    ],
)
def test_invalid_catalogue_is_explained(rules: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue({"rules": rules}, "test.yaml")
    assert "invalid rule catalogue test.yaml" in str(info.value)
    assert message in str(info.value)


def test_error_names_the_rule_position(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - {id: ok, type: high_amount}
  - {id: fast, type: card_velocity, params: {limit: -3}}
""",
    )
    with pytest.raises(CatalogueError, match=r"rules\[1\] \(id fast\)"):
        load_catalogue(path)


def test_unreadable_catalogue(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.yaml")
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(write(tmp_path, "rules: [unclosed"))


def test_no_enabled_rule_is_an_error() -> None:
    catalogue = parse_catalogue({"rules": [{"id": "a", "type": "high_amount", "enabled": False}]})
    with pytest.raises(ValueError, match="no enabled rule"):
        alerts_sql(catalogue, "tx", rule_settings())


def test_ddl_builds_jdbc_table_from_settings() -> None:
    settings = rule_settings().model_copy(
        update={"postgres_port": 6543, "postgres_db": "frauddb", "host": "10.1.2.3"}
    )
    statements = ddl(load_catalogue(), settings)
    assert len(statements) == 1
    text = statements[0]
    assert "'url' = 'jdbc:postgresql://10.1.2.3:6543/frauddb'" in text
    assert "'username' = 'fraudstream'" in text
    assert "'lookup.partial-cache.expire-after-write' = '10s'" in text
    no_blocklist = parse_catalogue({"rules": [{"id": "a", "type": "high_amount"}]})
    assert ddl(no_blocklist, settings) == []


def test_intervals_fit_flink_precision() -> None:
    assert interval(60) == "INTERVAL '0 00:01:00' DAY TO SECOND"
    assert interval(3600) == "INTERVAL '0 01:00:00' DAY TO SECOND"
    assert interval(7 * 86400 - 1) == "INTERVAL '6 23:59:59' DAY TO SECOND"


def test_sql_never_mentions_raw_card_number() -> None:
    catalogue = load_catalogue(packs=["seed-baseline"])
    text = alerts_sql(catalogue, "tx", rule_settings()).lower()
    assert "card_number" not in text
    assert text.count("union all") == len(catalogue.enabled()) - 1
