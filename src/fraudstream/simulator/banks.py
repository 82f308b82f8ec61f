"""Bank configuration: which banks to simulate, their rates and user ranges.

The default file ``banks.yaml`` next to this module reproduces the original
setup (BANK_A 50 tx/s users 1000-4999, BANK_B 30 tx/s users 5000-9999);
``--banks-config FILE`` points at another one with the same format.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from fraudstream.simulator.population import COUNTRIES, NETWORK_WEIGHTS

DEFAULT_BANKS_FILE: Final = Path(__file__).with_name("banks.yaml")
_BANK_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class BankConfigError(ValueError):
    """The bank configuration file is unreadable or inconsistent."""


@dataclass(frozen=True)
class Bank:
    bank_id: str
    rate: float
    first_user: int
    last_user: int
    home_countries: dict[str, float] = field(default_factory=lambda: {"US": 1.0})
    networks: dict[str, float] = field(default_factory=lambda: dict(NETWORK_WEIGHTS))
    travellers: float = 0.05
    shared_accounts: float = 0.0
    """share of users whose account a household shares (honest multi-card use)"""
    big_spenders: float = 0.0
    """share of users who spend 300-900 a purchase, electronics and jewelry too"""
    lookalike_rate: float = 0.0
    """chance per transaction slot that an honest look-alike episode starts"""

    @property
    def users(self) -> int:
        return self.last_user - self.first_user + 1


def _weights(raw: Any, allowed: Sequence[str], what: str, bank: str) -> dict[str, float]:
    if not isinstance(raw, dict) or not raw:
        raise BankConfigError(f"{bank}: {what} must be a non-empty mapping")
    weights: dict[str, float] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise BankConfigError(f"{bank}: {what} has unknown key {key!r} (known: {allowed})")
        if not isinstance(value, int | float) or value < 0:
            raise BankConfigError(f"{bank}: {what}[{key}] must be a non-negative number")
        weights[str(key)] = float(value)
    if sum(weights.values()) <= 0:
        raise BankConfigError(f"{bank}: {what} weights sum to zero")
    return weights


def parse_bank(raw: Any) -> Bank:
    if not isinstance(raw, dict):
        raise BankConfigError(f"each bank must be a mapping, got {raw!r}")
    bank_id = raw.get("id")
    if not isinstance(bank_id, str) or not _BANK_ID_RE.match(bank_id):
        raise BankConfigError(f"bank id {bank_id!r} must be 1-64 of A-Z a-z 0-9 _ -")
    rate = raw.get("rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        raise BankConfigError(f"{bank_id}: rate must be a positive number of tx/s")
    users = raw.get("users")
    if (
        not isinstance(users, list)
        or len(users) != 2
        or not all(isinstance(u, int) and not isinstance(u, bool) for u in users)
        or not 0 < users[0] <= users[1] < 10**7
    ):
        raise BankConfigError(f"{bank_id}: users must be [first, last] with 0 < first <= last")
    shares = {}
    for name, default in (
        ("travellers", 0.05),
        ("shared_accounts", 0.0),
        ("big_spenders", 0.0),
        ("lookalike_rate", 0.0),
    ):
        value = raw.get(name, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise BankConfigError(f"{bank_id}: {name} must be a share between 0 and 1")
        shares[name] = float(value)
    return Bank(
        bank_id=bank_id,
        rate=float(rate),
        first_user=users[0],
        last_user=users[1],
        home_countries=_weights(
            raw.get("home_countries", {"US": 1.0}), tuple(COUNTRIES), "home_countries", bank_id
        ),
        networks=_weights(
            raw.get("networks", NETWORK_WEIGHTS), tuple(NETWORK_WEIGHTS), "networks", bank_id
        ),
        **shares,
    )


def parse_banks(document: Any) -> list[Bank]:
    if not isinstance(document, dict) or not isinstance(document.get("banks"), list):
        raise BankConfigError("the file must hold a mapping with a 'banks' list")
    banks = [parse_bank(raw) for raw in document["banks"]]
    if not banks:
        raise BankConfigError("no banks configured")
    ids = [b.bank_id for b in banks]
    if len(set(ids)) != len(ids):
        raise BankConfigError(f"duplicate bank ids in {ids}")
    ordered = sorted(banks, key=lambda b: b.first_user)
    for left, right in itertools.pairwise(ordered):
        if right.first_user <= left.last_user:
            raise BankConfigError(f"user ranges of {left.bank_id} and {right.bank_id} overlap")
    return banks


def load_banks(path: Path | None = None) -> list[Bank]:
    """Banks from a YAML file (the bundled default when ``path`` is None)."""
    source = path or DEFAULT_BANKS_FILE
    try:
        document = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise BankConfigError(f"cannot read {source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BankConfigError(f"{source} is not valid YAML: {exc}") from exc
    return parse_banks(document)


def select_banks(banks: list[Bank], wanted: Sequence[str] | None) -> list[Bank]:
    """The banks named in ``wanted`` (all of them for None, empty or 'all')."""
    if not wanted or "all" in wanted:
        return list(banks)
    by_id = {b.bank_id: b for b in banks}
    unknown = [w for w in wanted if w not in by_id]
    if unknown:
        raise BankConfigError(f"unknown bank(s) {unknown}; configured: {sorted(by_id)}")
    return [by_id[w] for w in dict.fromkeys(wanted)]
