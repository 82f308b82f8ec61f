"""Loading and validating the catalogue and its packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudstream.detection.rules import (
    CatalogueError,
    load_catalogue,
    parse_catalogue,
    with_packs,
)
from fraudstream.detection.rules.catalogue import default_path
from fraudstream.detection.rules.types import REGISTRY
from fraudstream.detection.rules.types.card_velocity import CardVelocityParams


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


def test_bundled_rule_ids_are_stable() -> None:
    # Rule ids are part of every alert id: renaming one splits its history.
    assert [r.id for r in load_catalogue().rules] == [
        "high-amount",
        "card-velocity-1m",
        "card-velocity-1h",
        "amount-spike",
        "impossible-travel",
        "card-testing",
        "country-hopping",
        "blocklist",
        "card-number-check",
        "risk-score",
        "user-velocity-2m",
        "card-enumeration",
        "risky-category",
        "seed-high-amount",
        "seed-user-velocity",
        "seed-user-countries",
    ]
    assert default_path().name == "rules.yaml" and default_path().is_file()
    assert all(r.description for r in load_catalogue().rules)


def test_typed_params_fill_in_defaults() -> None:
    rule = parse_catalogue({"rules": [{"id": "v", "type": "card_velocity"}]}).rules[0]
    assert rule.typed_params() == CardVelocityParams(window_seconds=60, limit=5)
    assert rule.severity == "medium" and rule.enabled and rule.pack == "default"


def test_cooldown_seconds_is_optional_and_bounded() -> None:
    rules = [
        {"id": "a", "type": "card_velocity"},
        {"id": "b", "type": "card_velocity", "cooldown_seconds": 0},
        {"id": "c", "type": "card_velocity", "cooldown_seconds": 900},
    ]
    catalogue = parse_catalogue({"rules": rules})
    assert [r.cooldown_seconds for r in catalogue.rules] == [None, 0, 900]
    for bad in (-1, 7 * 24 * 3600 + 1):
        with pytest.raises(CatalogueError, match="cooldown_seconds"):
            parse_catalogue({"rules": [{**rules[0], "cooldown_seconds": bad}]})


def test_a_catalogue_without_enabled_rules_is_valid() -> None:
    catalogue = parse_catalogue({"rules": [{"id": "a", "type": "high_amount", "enabled": False}]})
    assert catalogue.enabled() == ()
    assert catalogue.packs() == ("default",)
