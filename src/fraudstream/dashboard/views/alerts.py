"""Alerts: the live feed, newest first, with filters and a card/user drill-down."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from fraudstream.dashboard import frames, state, ui
from fraudstream.dashboard.queries import AlertFilter, ArchiveUnavailable
from fraudstream.detection.rules.catalogue import CatalogueError, load_catalogue
from fraudstream.records import SEVERITIES

FEED_LIMITS = (25, 50, 100, 250)


def _rule_options(live: pd.DataFrame) -> list[str]:
    try:
        ids = {rule.id for rule in load_catalogue().rules}
    except CatalogueError:
        ids = set()
    return sorted(ids | set(live["rule_id"].dropna().astype(str)))


def render() -> None:
    ctx = state.context()
    st.title("Alerts")
    live_all = state.live_alerts(ctx.feed)
    try:
        banks = sorted(set(ctx.archive.banks()) | set(live_all["bank_id"].dropna()))
    except ArchiveUnavailable:
        banks = sorted(set(live_all["bank_id"].dropna()))

    cols = st.columns([2, 2, 2, 2, 1])
    rules = cols[0].multiselect("Rule", _rule_options(live_all), key="alerts_rules")
    chosen_banks = cols[1].multiselect("Bank", banks, key="alerts_banks")
    severities = cols[2].multiselect("Severity", list(SEVERITIES), key="alerts_severities")
    range_label = cols[3].selectbox(
        "Time range", list(frames.TIME_RANGES), index=2, key="alerts_range"
    )
    limit = cols[4].selectbox("Show", FEED_LIMITS, index=1, key="alerts_limit")
    base = AlertFilter(rules=tuple(rules), banks=tuple(chosen_banks), severities=tuple(severities))
    seconds = frames.TIME_RANGES[range_label]

    @st.fragment(run_every=ctx.refresh)
    def feed() -> None:
        flt = replace(base, since=frames.since(seconds))
        status = ctx.feed.status()
        ui.kafka_banner(status, ctx.refresh)
        live = frames.filter_alerts(state.live_alerts(ctx.feed), flt)
        live_count = len(live)
        live = frames.newest(live, int(limit))
        try:
            history = ctx.archive.alerts(flt, int(limit))
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            history = pd.DataFrame()
        shown = frames.merge_alerts(live, history).head(int(limit))
        st.caption(
            f"{len(shown)} alerts shown (newest first) · {live_count} match in the live window, "
            f"the rest from the archive · {ui.feed_caption(status)}"
        )
        if shown.empty:
            st.info("No alerts match these filters yet.")
        else:
            table = frames.feed_table(shown)
            st.table(table.style.map(frames.severity_style, subset=["severity"]))

    feed()

    st.subheader("Drill-down")
    subject = st.text_input(
        "Card token, masked card or user id",
        key="alerts_subject",
        placeholder="e.g. 411111******1111 or 4211",
    )
    if subject.strip():
        _drilldown(ctx, subject)


def _drilldown(ctx: state.Context, subject: str) -> None:
    try:
        who = frames.parse_subject(subject)
    except ValueError as exc:
        st.warning(str(exc))
        return
    live = frames.filter_alerts(state.live_alerts(ctx.feed), who)
    try:
        txs = ctx.archive.transactions(who, 50)
        history = ctx.archive.alerts(who, 100)
    except ArchiveUnavailable as exc:
        ui.archive_down(ctx, exc)
        txs, history = pd.DataFrame(), pd.DataFrame()
    alerts = frames.merge_alerts(live, history)
    st.markdown(f"**Alerts** ({len(alerts)})")
    if alerts.empty:
        st.caption("no alerts for this subject")
    else:
        st.dataframe(frames.feed_table(alerts), hide_index=True, key="drill_alerts")
    st.markdown(f"**Recent transactions** ({len(txs)})")
    if txs.empty:
        st.caption("no archived transactions for this subject")
    else:
        st.dataframe(txs, hide_index=True, key="drill_transactions")
