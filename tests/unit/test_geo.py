from __future__ import annotations

import re

import pytest

from fraudstream import codes, geo
from fraudstream.simulator.population import COUNTRIES as SIMULATED

EUROPE = [
    "AD",
    "AL",
    "AT",
    "BA",
    "BE",
    "BG",
    "BY",
    "CH",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GB",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MC",
    "MD",
    "ME",
    "MK",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "RS",
    "SE",
    "SI",
    "SK",
    "SM",
    "UA",
    "VA",
]


def test_table_is_complete_and_sane() -> None:
    table = geo.countries()
    assert len(table) >= 80
    for code in (*EUROPE, "US", "CA", "MX", "CN", "JP", "IN", "BR", "AR", "NG", "ZA", "EG"):
        assert code in table, code
    for code, country in table.items():
        assert re.fullmatch(r"[A-Z]{2}", code) and country.code == code
        assert -90 <= country.lat <= 90 and -180 <= country.lon <= 180
        assert re.fullmatch(r"[A-Z]{3}", country.currency)
    assert table["DE"].currency == "EUR" and table["GB"].currency == "GBP"


def test_table_speaks_the_iso_code_lists() -> None:
    """Every row is a country ISO 3166-1 knows, paying in a currency ISO 4217
    knows, and every country the simulator draws has coordinates."""
    table = geo.countries()
    assert set(table) <= codes.COUNTRIES
    assert {c.currency for c in table.values()} <= codes.CURRENCIES
    assert set(SIMULATED) <= set(table)
    # Every ISO country but Antarctica (no currency, no card traffic to speak of).
    assert codes.COUNTRIES - set(table) == {"AQ"}
    assert codes.country_name("DE") == "Germany" and codes.country_name("ZZ") is None


def test_distances() -> None:
    def km(a: str, b: str) -> float:
        distance = geo.distance_km(a, b)
        assert distance is not None
        return distance

    assert km("FR", "FR") == 0
    assert km("US", "GB") == pytest.approx(km("GB", "US"))
    # Centroids: Germany-France about 800 km, USA-UK about 6,800 km.
    assert 700 < km("DE", "FR") < 900
    assert 6500 < km("US", "GB") < 7200
    assert geo.haversine_km(0, 0, 0, 180) == pytest.approx(geo.EARTH_RADIUS_KM * 3.14159, rel=1e-4)


def test_unknown_country_has_no_distance() -> None:
    assert geo.distance_km("US", "ZZ") is None
    assert geo.distance_km("ZZ", "ZZ") is None
