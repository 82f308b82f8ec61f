"""Analytics: alerts by rule, bank, payment system, merchant and country."""

from __future__ import annotations

import math

import pandas as pd
import pydeck as pdk
import streamlit as st

from fraudstream.dashboard import countries, frames, state, ui
from fraudstream.dashboard.queries import ArchiveUnavailable

DIMENSIONS = (
    ("rule_id", "By rule"),
    ("bank_id", "By bank"),
    ("payment_system", "By payment system"),
    ("merchant", "Top merchants"),
)


def render() -> None:
    ctx = state.context()
    st.title("Analytics")
    label = st.selectbox("Time range", list(frames.TIME_RANGES), index=4, key="analytics_range")
    seconds = frames.TIME_RANGES[label]

    @st.fragment(run_every=max(ctx.refresh, 5.0))
    def charts() -> None:
        try:
            groups = {col: ctx.archive.alerts_by(col, seconds, limit=15) for col, _ in DIMENSIONS}
            by_country = ctx.archive.alerts_by("country", seconds, limit=250)
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            return
        total = int(groups["rule_id"]["alerts"].sum()) if not groups["rule_id"].empty else 0
        st.metric("Alerts in range", f"{total:,}")
        cols = st.columns(2)
        for index, (column, title) in enumerate(DIMENSIONS):
            with cols[index % 2]:
                st.markdown(f"**{title}**")
                data = groups[column]
                if data.empty:
                    st.caption("no alerts in this range")
                    continue
                st.bar_chart(data.set_index("key")["alerts"], horizontal=True, height=220)
                st.dataframe(
                    data.rename(columns={"key": column}), hide_index=True, key=f"by_{column}"
                )
        st.markdown("**By country**")
        _country_map(by_country)

    charts()


def country_points(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for record in df.to_dict("records"):
        point = countries.centroid(str(record["key"]))
        if point is None:
            continue
        rows.append(
            {
                "country": str(record["key"]).strip(),
                "alerts": int(record["alerts"]),
                "lat": point[0],
                "lon": point[1],
                "radius": 100_000 * math.sqrt(int(record["alerts"])),
                "label": f"{str(record['key']).strip()} {int(record['alerts'])}",
            }
        )
    return pd.DataFrame(rows, columns=["country", "alerts", "lat", "lon", "radius", "label"])


def _country_map(df: pd.DataFrame) -> None:
    if df.empty:
        st.caption("no alerts in this range")
        return
    points = country_points(df)
    layer = pdk.Layer(
        "ScatterplotLayer",
        data=points,
        get_position="[lon, lat]",
        get_radius="radius",
        get_fill_color=[220, 40, 40, 160],
        radius_min_pixels=5,
        radius_max_pixels=60,
        pickable=True,
    )
    # Labels keep the map readable where no base map tiles can be loaded.
    labels = pdk.Layer(
        "TextLayer",
        data=points,
        get_position="[lon, lat]",
        get_text="label",
        get_size=14,
        get_color=[60, 60, 60, 255],
        get_pixel_offset=[0, -18],
    )
    view = pdk.ViewState(latitude=30.0, longitude=10.0, zoom=1)
    st.pydeck_chart(
        pdk.Deck(
            layers=[layer, labels], initial_view_state=view, tooltip={"text": "{country}: {alerts}"}
        ),
        height=380,
    )
    st.dataframe(df.rename(columns={"key": "country"}), hide_index=True, key="by_country")
