"""Country centroids bundled with the project (``data/countries.csv``).

A transaction carries only an ISO 3166-1 alpha-2 country code, so distances
between transactions are distances between country centroids (approximate,
from public country data). The table covers every ISO 3166-1 country except
Antarctica, each with the currency it uses (both codes checked against
``fraudstream.codes`` by a unit test). The same table feeds the simulator,
the detection rules and the dashboard, so all agree on every number.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    lat: float
    lon: float
    currency: str


@cache
def countries() -> dict[str, Country]:
    """Every bundled country by its alpha-2 code."""
    source = resources.files("fraudstream") / "data" / "countries.csv"
    rows = list(csv.DictReader(source.read_text(encoding="utf-8").splitlines()))
    return {
        row["code"]: Country(
            code=row["code"],
            name=row["name"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            currency=row["currency"],
        )
        for row in rows
    }


@cache
def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two countries' centroids; None when either
    code is not in the table. Cached: a card's countries repeat."""
    table = countries()
    first, second = table.get(a), table.get(b)
    if first is None or second is None:
        return None
    return haversine_km(first.lat, first.lon, second.lat, second.lon)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))
