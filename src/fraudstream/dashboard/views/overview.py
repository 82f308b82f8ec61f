"""Overview: traffic, alert rate, fraud rate, amount at risk and latency per bank."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fraudstream.dashboard import frames, state, ui
from fraudstream.dashboard.queries import ArchiveUnavailable

RANGES = ("last 5 minutes", "last 15 minutes", "last hour", "last 6 hours", "last 24 hours")


def render() -> None:
    ctx = state.context()
    st.title("Overview")
    label = st.selectbox("Window", RANGES, index=1, key="overview_range")
    seconds = frames.TIME_RANGES[label] or 3600

    @st.fragment(run_every=ctx.refresh)
    def live() -> None:
        try:
            summary = ctx.archive.bank_summary(seconds)
            bucket = frames.bucket_seconds(seconds)
            tx_series = ctx.archive.transaction_series(seconds, bucket)
            alert_series = ctx.archive.alert_series(seconds, bucket)
        except ArchiveUnavailable as exc:
            ui.archive_down(ctx, exc)
            return
        metrics = frames.bank_metrics(summary, seconds)
        for row in metrics.to_dict("records"):
            st.subheader(str(row["bank"]))
            cols = st.columns(6)
            cols[0].metric("Transactions/s", f"{row['transactions_per_second']:.2f}")
            cols[1].metric("Alerts/min", f"{row['alerts_per_minute']:.2f}")
            cols[2].metric("Fraud rate", f"{row['fraud_rate']:.2%}")
            cols[3].metric("Amount at risk", frames.format_amount(row["amount_at_risk"]))
            cols[4].metric("Latency p50", frames.format_seconds(row["latency_p50"]))
            cols[5].metric("Latency p99", frames.format_seconds(row["latency_p99"]))
        st.dataframe(metrics, hide_index=True, key="overview_table")
        st.caption(
            f"Transactions by event time, alerts by detection time, over the {label}; "
            f"latency is detected_at − event_time; amount at risk excludes alerts "
            f"marked false positive. Points every {bucket} s."
        )
        left, right = st.columns(2)
        with left:
            st.markdown("**Transactions per second**")
            _chart(frames.pivot_series(tx_series, "transactions", 1 / bucket, bucket=bucket))
        with right:
            st.markdown("**Alerts per minute**")
            _chart(frames.pivot_series(alert_series, "alerts", 60 / bucket, bucket=bucket))
        st.markdown("**Detection latency p99 (s)**")
        latency = frames.pivot_series(alert_series, "latency_p99")
        _chart(latency)

    live()


def _chart(data: pd.DataFrame) -> None:
    if data.empty:
        st.caption("no data in this window")
    else:
        st.line_chart(data, height=220)
