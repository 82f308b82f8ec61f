"""Alerts: the live feed of cases, newest first, each with the alerts inside,
with filters and a card/user drill-down."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pandas as pd
import streamlit as st

from fraudstream.dashboard import cases, frames, state, ui
from fraudstream.dashboard.queries import AlertFilter, ArchiveUnavailable
from fraudstream.detection.rules.catalogue import CatalogueError, load_catalogue
from fraudstream.records import SEVERITIES

FEED_LIMITS = (25, 50, 100, 250)
ALERTS_PER_CASE = 4
"""Alerts fetched per case shown: enough for most cases to be whole in the list."""


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
        fetch = int(limit) * ALERTS_PER_CASE
        live = frames.filter_alerts(state.live_alerts(ctx.feed), flt)
        live_count = len(live)
        live = frames.newest(live, fetch)
        try:
            history = ctx.archive.alerts(flt, fetch)
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            history = pd.DataFrame()
        alerts = frames.merge_alerts(live, history)
        shown = cases.cases_frame(alerts).head(int(limit))
        st.caption(
            f"{len(shown)} cases shown (most recently active first) · {live_count} alerts match "
            f"in the live window, the rest from the archive · {ui.feed_caption(status)}"
        )
        if shown.empty:
            st.info("No alerts match these filters yet.")
            return
        table = cases.case_table(shown)
        st.table(table.style.map(frames.severity_style, subset=["severity"]))
        _case_detail(ctx, shown, alerts)

    feed()

    st.subheader("Drill-down")
    subject = st.text_input(
        "Card token, masked card or user id",
        key="alerts_subject",
        placeholder="e.g. 411111******1111 or 4211",
    )
    if subject.strip():
        _drilldown(ctx, subject)


def _case_detail(ctx: state.Context, shown: pd.DataFrame, alerts: pd.DataFrame) -> None:
    """The alerts inside one case of the list (the newest unless one is chosen)."""
    labels = {str(r["case_id"]): cases.case_label(r) for r in shown.to_dict("records")}
    case_id = st.selectbox("Case", list(labels), format_func=labels.__getitem__, key="alerts_case")
    if case_id is None:
        return
    inside = cases.alerts_of(alerts, case_id)
    # The whole case, including alerts older than the list reaches back; while
    # PostgreSQL is away (the banner says so) the listed alerts remain.
    with contextlib.suppress(ArchiveUnavailable):
        inside = frames.merge_alerts(inside, ctx.archive.alerts(AlertFilter(case_id=case_id), 200))
    st.markdown(f"**Alerts in case {case_id[:8]}** ({len(inside)})")
    table = frames.feed_table(inside)
    table.insert(3, "hits", list(inside["hits"].fillna(1).astype(int)))
    st.dataframe(table, hide_index=True, key="case_alerts")


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
