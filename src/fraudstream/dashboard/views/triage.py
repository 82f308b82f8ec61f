"""Triage: an analyst marks a case (the alerts of one card or user within an
episode) as confirmed fraud or a false positive; the verdict applies to every
alert of the case, so each rule's precision on the Rules page counts it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fraudstream.dashboard import cases, frames, login, state, ui
from fraudstream.dashboard.queries import VERDICTS, AlertFilter, ArchiveUnavailable

VERDICT_LABELS = {
    "confirmed_fraud": "Confirmed fraud",
    "false_positive": "False positive",
    cases.MIXED: "Partly triaged",
}
CANDIDATE_ALERTS = 400


def render() -> None:
    ctx = state.context()
    st.title("Triage")
    live = state.live_alerts(ctx.feed)
    try:
        history = ctx.archive.alerts(AlertFilter(), CANDIDATE_ALERTS)
        alerts = frames.merge_alerts(live, history).head(CANDIDATE_ALERTS)
        verdicts = ctx.archive.verdicts(list(alerts["alert_id"].astype(str)))
        marks = ctx.archive.triage_marks(100)
    except ArchiveUnavailable as exc:
        ui.archive_down(ctx, exc)
        return
    candidates = cases.untriaged_first(cases.cases_frame(alerts), verdicts)
    if candidates.empty:
        st.info("No alerts to triage yet.")
    else:
        _form(ctx, candidates, alerts, verdicts)
    st.subheader("Recent verdicts")
    if marks.empty:
        st.caption("no verdicts yet")
    else:
        st.dataframe(marks, hide_index=True, key="triage_marks")


def _form(
    ctx: state.Context, candidates: pd.DataFrame, alerts: pd.DataFrame, verdicts: dict[str, str]
) -> None:
    rows = {str(r["case_id"]): r for r in candidates.to_dict("records")}

    def label(case_id: str) -> str:
        verdict = cases.case_verdict(rows[case_id]["alert_ids"], verdicts)
        mark = f"  [{VERDICT_LABELS[verdict]}]" if verdict is not None else ""
        return cases.case_label(rows[case_id]) + mark

    case_id = st.selectbox(
        "Case (untriaged first)", list(rows), format_func=label, key="triage_case"
    )
    if case_id is None:
        return
    inside = cases.alerts_of(alerts, case_id)
    try:
        inside = frames.merge_alerts(inside, ctx.archive.alerts(AlertFilter(case_id=case_id), 200))
    except ArchiveUnavailable as exc:
        ui.archive_down(ctx, exc)
        return
    st.markdown(f"**Alerts in this case** ({len(inside)}): the verdict applies to each")
    table = frames.feed_table(inside)
    table.insert(
        0, "verdict", [VERDICT_LABELS.get(verdicts.get(a, ""), "") for a in inside["alert_id"]]
    )
    st.dataframe(table, hide_index=True, key="triage_case_alerts")
    with st.form("triage_form", clear_on_submit=True):
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
    if submitted:
        ids = [str(a) for a in inside["alert_id"]]
        try:
            ctx.archive.record_verdicts(ids, verdict, note.strip(), analyst.strip())
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            return
        st.success(
            f"Saved: {VERDICT_LABELS[verdict]} for case {case_id[:8]} ({len(ids)} alert"
            f"{'s' if len(ids) != 1 else ''})"
        )
