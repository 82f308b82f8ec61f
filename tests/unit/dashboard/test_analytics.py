from __future__ import annotations

import pandas as pd

from fraudstream.dashboard.views.analytics import country_points


def test_country_points_place_known_countries_and_skip_unknown() -> None:
    df = pd.DataFrame({"key": ["DE", "ZZ", "US "], "alerts": [4, 2, 1], "amount": [1, 2, 3]})
    points = country_points(df)
    assert list(points["country"]) == ["DE", "US"]
    assert list(points["label"]) == ["DE 4", "US 1"]
    de = points.iloc[0]
    assert 47 < de["lat"] < 55 and 5 < de["lon"] < 15
    assert de["radius"] > points.iloc[1]["radius"]


def test_country_points_empty() -> None:
    empty = pd.DataFrame(columns=["key", "alerts", "amount"])
    assert country_points(empty).empty
