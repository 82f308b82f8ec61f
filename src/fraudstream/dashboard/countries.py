"""Country centroids for the alerts map, from the project's one country table
(``fraudstream.geo``): the map places a country where the rules measure it."""

from __future__ import annotations

from fraudstream import geo


def centroid(country: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a country's centroid, or None when unknown."""
    found = geo.countries().get(country.strip().upper())
    return None if found is None else (found.lat, found.lon)
