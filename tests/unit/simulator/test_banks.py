from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.simulator.banks import (
    DEFAULT_BANKS_FILE,
    BankConfigError,
    load_banks,
    parse_banks,
    select_banks,
)


def test_default_file_reproduces_the_original_setup() -> None:
    banks = {b.bank_id: b for b in load_banks()}
    assert set(banks) == {"BANK_A", "BANK_B"}
    assert (banks["BANK_A"].rate, banks["BANK_A"].first_user, banks["BANK_A"].last_user) == (
        50.0,
        1000,
        4999,
    )
    assert (banks["BANK_B"].rate, banks["BANK_B"].first_user, banks["BANK_B"].last_user) == (
        30.0,
        5000,
        9999,
    )
    assert load_banks(DEFAULT_BANKS_FILE) == load_banks()


def test_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "banks.yaml"
    path.write_text("banks:\n  - {id: ONE, rate: 2.5, users: [1, 10]}\n")
    (bank,) = load_banks(path)
    assert bank.bank_id == "ONE" and bank.rate == 2.5 and bank.users == 10
    assert bank.home_countries == {"US": 1.0}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "'banks' list"),
        ({"banks": []}, "no banks"),
        ({"banks": [{"id": "A B", "rate": 1, "users": [1, 2]}]}, "bank id"),
        ({"banks": [{"id": "A", "rate": 0, "users": [1, 2]}]}, "rate"),
        ({"banks": [{"id": "A", "rate": 1, "users": [3, 2]}]}, "users"),
        ({"banks": [{"id": "A", "rate": 1, "users": [1, 2], "home_countries": {"XX": 1}}]}, "XX"),
        (
            {
                "banks": [
                    {"id": "A", "rate": 1, "users": [1, 5]},
                    {"id": "B", "rate": 1, "users": [5, 9]},
                ]
            },
            "overlap",
        ),
        (
            {
                "banks": [
                    {"id": "A", "rate": 1, "users": [1, 2]},
                    {"id": "A", "rate": 1, "users": [5, 9]},
                ]
            },
            "duplicate",
        ),
    ],
)
def test_bad_configuration_is_explained(document: object, message: str) -> None:
    with pytest.raises(BankConfigError, match=message):
        parse_banks(document)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BankConfigError, match="cannot read"):
        load_banks(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("banks: [\n")
    with pytest.raises(BankConfigError, match="not valid YAML"):
        load_banks(bad)


def test_select_banks() -> None:
    banks = load_banks()
    assert select_banks(banks, None) == banks
    assert select_banks(banks, ["all"]) == banks
    assert [b.bank_id for b in select_banks(banks, ["BANK_B", "BANK_B"])] == ["BANK_B"]
    with pytest.raises(BankConfigError, match="unknown bank"):
        select_banks(banks, ["BANK_Z"])
