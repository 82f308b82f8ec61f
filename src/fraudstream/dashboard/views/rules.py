"""Rules: the active catalogue with hit counts and precision per rule."""

from __future__ import annotations

import streamlit as st

from fraudstream.dashboard import frames, state, ui
from fraudstream.dashboard.queries import ArchiveUnavailable
from fraudstream.detection.rules.catalogue import CatalogueError, load_catalogue


def render() -> None:
    ctx = state.context()
    st.title("Rules")
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        st.error(f"The rule catalogue cannot be loaded: {exc}")
        return
    label = st.selectbox("Hits in", list(frames.TIME_RANGES), index=2, key="rules_range")
    seconds = frames.TIME_RANGES[label]

    @st.fragment(run_every=max(ctx.refresh, 5.0))
    def table() -> None:
        try:
            stats = ctx.archive.rule_stats(seconds)
            labels = ctx.archive.labels_present()
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            return
        rules = frames.rules_table(catalogue, stats, labels)
        enabled = int(rules["enabled"].sum()) if not rules.empty else 0
        cols = st.columns(3)
        cols[0].metric("Rules enabled", f"{enabled}")
        cols[1].metric(f"Hits ({label})", f"{int(rules['hits'].sum()):,}")
        cols[2].metric(
            "Triaged alerts", f"{int((rules['confirmed'] + rules['false_positives']).sum()):,}"
        )
        st.dataframe(
            rules,
            hide_index=True,
            key="rules_table",
            # Every rule visible without scrolling the table.
            height=38 * (len(rules) + 1) + 3,
            column_config={
                "triage_precision": st.column_config.NumberColumn(
                    "triage precision",
                    format="percent",
                    help="confirmed fraud / (confirmed + false positives); a verdict on a "
                    "case counts for each of its alerts",
                ),
                "label_precision": st.column_config.NumberColumn(
                    "label precision",
                    format="percent",
                    help="hits on transactions the simulator labelled as fraud / all hits",
                ),
            },
        )
        if not labels:
            st.caption("No simulator labels in the archive; label precision is empty.")

    table()
