"""Country centroids bundled with the project (``data/countries.csv``).

A transaction carries only an ISO 3166-1 alpha-2 country code, so distances
between transactions are distances between country centroids. The same table
feeds the Python helpers here and the SQL the detection rules run in the JVM,
so both agree on every number.
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


def distance_km(a: str, b: str) -> float:
    """Great-circle distance between two countries' centroids."""
    table = countries()
    first, second = table[a], table[b]
    return haversine_km(first.lat, first.lon, second.lat, second.lon)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def sql_coordinate(column: str, axis: str) -> str:
    """A SQL expression giving the centroid latitude (``axis='lat'``) or
    longitude of the country code in ``column``; NULL for a code not in the
    table. A constant MAP is built once per operator and looked up by hash."""
    if axis not in ("lat", "lon"):
        raise ValueError(f"axis must be 'lat' or 'lon', not {axis!r}")
    entries = ", ".join(
        f"'{c.code}', CAST({getattr(c, axis)!r} AS DOUBLE)" for c in countries().values()
    )
    # The NULL entry makes the value type nullable: without it Flink types
    # the lookup NOT NULL and a missing key reads as 0.0, a real coordinate.
    return f"MAP['', CAST(NULL AS DOUBLE), {entries}][{column}]"


def sql_haversine_km(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """The haversine formula as a Flink SQL expression over four DOUBLE expressions."""
    return (
        f"(2 * {EARTH_RADIUS_KM} * ASIN(SQRT(LEAST(1.0, "
        f"POWER(SIN(RADIANS({lat2} - {lat1}) / 2), 2) + "
        f"COS(RADIANS({lat1})) * COS(RADIANS({lat2})) * "
        f"POWER(SIN(RADIANS({lon2} - {lon1}) / 2), 2)))))"
    )
