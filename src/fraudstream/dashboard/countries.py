"""Country centroids for the alerts map.

Uses the project's shared ``fraudstream.geo`` table when it is installed, and
otherwise a small built-in table of approximate centroids (latitude,
longitude) for the countries the simulator and most card traffic use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

_LOCAL: Final[dict[str, tuple[float, float]]] = {
    "AE": (23.9, 54.3),
    "AR": (-35.4, -65.2),
    "AT": (47.6, 14.1),
    "AU": (-25.7, 134.5),
    "BE": (50.6, 4.6),
    "BG": (42.8, 25.2),
    "BR": (-10.8, -53.1),
    "CA": (61.4, -98.3),
    "CH": (46.8, 8.2),
    "CL": (-35.7, -71.5),
    "CN": (36.6, 103.8),
    "CO": (3.9, -73.1),
    "CY": (35.0, 33.2),
    "CZ": (49.8, 15.3),
    "DE": (51.1, 10.4),
    "DK": (56.0, 10.0),
    "EE": (58.7, 25.5),
    "EG": (26.5, 29.9),
    "ES": (40.2, -3.6),
    "FI": (64.5, 26.3),
    "FR": (46.6, 2.5),
    "GB": (54.1, -2.9),
    "GR": (39.1, 22.9),
    "HK": (22.4, 114.1),
    "HR": (45.1, 16.4),
    "HU": (47.2, 19.4),
    "ID": (-2.2, 117.3),
    "IE": (53.2, -8.2),
    "IL": (31.4, 35.0),
    "IN": (22.9, 79.6),
    "IS": (65.0, -18.6),
    "IT": (42.8, 12.1),
    "JP": (37.6, 138.0),
    "KE": (0.6, 37.8),
    "KR": (36.4, 127.8),
    "KZ": (48.2, 67.3),
    "LT": (55.3, 23.9),
    "LU": (49.8, 6.1),
    "LV": (56.9, 24.9),
    "MA": (31.8, -6.9),
    "MT": (35.9, 14.4),
    "MX": (23.9, -102.5),
    "MY": (3.8, 109.7),
    "NG": (9.6, 8.1),
    "NL": (52.2, 5.5),
    "NO": (64.6, 17.1),
    "NZ": (-41.8, 171.5),
    "PE": (-9.2, -74.4),
    "PH": (11.8, 122.9),
    "PK": (29.9, 69.4),
    "PL": (52.1, 19.4),
    "PT": (39.6, -8.5),
    "RO": (45.9, 25.0),
    "RS": (44.2, 20.8),
    "RU": (61.0, 96.7),
    "SA": (24.1, 44.5),
    "SE": (62.8, 16.7),
    "SG": (1.4, 103.8),
    "SI": (46.1, 14.8),
    "SK": (48.7, 19.5),
    "TH": (15.1, 101.0),
    "TR": (39.1, 35.2),
    "TW": (23.8, 121.0),
    "UA": (49.0, 31.4),
    "US": (39.8, -98.6),
    "VN": (16.6, 106.3),
    "ZA": (-29.0, 25.1),
}


def _shared_lookup() -> Callable[[str], tuple[float, float] | None] | None:
    try:
        geo = importlib.import_module("fraudstream.geo")
    except ImportError:
        return None
    table_func = getattr(geo, "countries", None)
    if callable(table_func):
        return lambda code: table_func().get(code)
    for name in ("centroid", "country_centroid"):
        func = getattr(geo, name, None)
        if callable(func):
            return func  # type: ignore[no-any-return]
    table = getattr(geo, "CENTROIDS", None) or getattr(geo, "COUNTRY_CENTROIDS", None)
    if isinstance(table, dict):
        return table.get
    return None


def centroid(country: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a country's centroid, or None when unknown."""
    code = country.strip().upper()
    shared = _shared_lookup()
    if shared is not None:
        try:
            found = shared(code)
        except (KeyError, ValueError):
            found = None
        if found is not None:
            lat, lon = _as_lat_lon(found)
            return lat, lon
    return _LOCAL.get(code)


def _as_lat_lon(value: object) -> tuple[float, float]:
    lat = getattr(value, "lat", getattr(value, "latitude", None))
    lon = getattr(value, "lon", getattr(value, "longitude", None))
    if lat is not None and lon is not None:
        return float(lat), float(lon)
    if isinstance(value, tuple | list) and len(value) >= 2:
        return float(value[0]), float(value[1])
    raise ValueError(f"not a (latitude, longitude) pair: {value!r}")
