"""Triage: an analyst marks an alert as confirmed fraud or a false positive."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fraudstream.dashboard import frames, login, state, ui
from fraudstream.dashboard.queries import VERDICTS, AlertFilter, ArchiveUnavailable

VERDICT_LABELS = {"confirmed_fraud": "Confirmed fraud", "false_positive": "False positive"}


def render() -> None:
    ctx = state.context()
    st.title("Triage")
    live = state.live_alerts(ctx.feed)
    try:
        history = ctx.archive.alerts(AlertFilter(), 200)
        marks = ctx.archive.triage_marks(100)
    except ArchiveUnavailable as exc:
        ui.archive_down(ctx, exc)
        return
    candidates = frames.untriaged_first(
        frames.merge_alerts(live, history).head(200), list(marks["alert_id"])
    )
    if candidates.empty:
        st.info("No alerts to triage yet.")
    else:
        _form(ctx, candidates, marks)
    st.subheader("Recent verdicts")
    if marks.empty:
        st.caption("no verdicts yet")
    else:
        st.dataframe(marks, hide_index=True, key="triage_marks")


def _form(ctx: state.Context, candidates: pd.DataFrame, marks: pd.DataFrame) -> None:
    labels = {
        str(row["alert_id"]): frames.alert_label(row) for row in candidates.to_dict("records")
    }
    verdicts = dict(zip(marks["alert_id"], marks["verdict"], strict=True))
    with st.form("triage_form", clear_on_submit=True):
        alert_id = st.selectbox(
            "Alert (untriaged first)",
            list(labels),
            format_func=lambda a: (
                labels[a] + (f"  [{VERDICT_LABELS[verdicts[a]]}]" if a in verdicts else "")
            ),
            key="triage_alert",
        )
        verdict = st.radio(
            "Verdict",
            list(VERDICTS),
            format_func=VERDICT_LABELS.__getitem__,
            horizontal=True,
            key="triage_verdict",
        )
        note = st.text_area("Note (optional)", key="triage_note")
        # Signed in: the verdict is the analyst's own, nobody types a name.
        signed_in = login.current_analyst()
        if signed_in is None:
            analyst = st.text_input("Analyst (optional)", key="triage_analyst")
        else:
            analyst = signed_in
            st.caption(f"Recorded as **{signed_in}**")
        submitted = st.form_submit_button("Save verdict")
    if submitted and alert_id is not None:
        try:
            ctx.archive.record_verdict(alert_id, verdict, note.strip(), analyst.strip())
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            return
        st.success(f"Saved: {VERDICT_LABELS[verdict]} for alert {alert_id}")
