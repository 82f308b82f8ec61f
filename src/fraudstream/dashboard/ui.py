"""Widgets every page shares: the service status and outage banners."""

from __future__ import annotations

import time

import streamlit as st

from fraudstream.dashboard.alerts_feed import FeedStatus
from fraudstream.dashboard.queries import ArchiveUnavailable
from fraudstream.dashboard.state import Context


def archive_down(ctx: Context, exc: ArchiveUnavailable) -> None:
    st.error(
        f"**PostgreSQL is unavailable** ({ctx.settings.dsn_redacted}): {exc}. "
        f"History and aggregates are paused; retrying every "
        f"{ctx.refresh:g} s.",
        icon=":material/database_off:",
    )


def kafka_banner(status: FeedStatus, refresh: float) -> None:
    if not status.connected:
        detail = f": {status.error}" if status.error else ""
        st.warning(
            f"**Kafka is unavailable**{detail}. The live feed is paused and resumes by "
            f"itself when the cluster is back (checked every {refresh:g} s).",
            icon=":material/warning:",
        )
    elif status.error:
        st.warning(f"Live feed: {status.error}", icon=":material/warning:")


def feed_caption(status: FeedStatus) -> str:
    if status.live:
        state = f":green[●] live on `{status.topic}` ({status.assigned_partitions} partitions)"
    elif status.connected:
        state = f":orange[●] joining `{status.topic}`"
    else:
        state = ":red[●] Kafka unavailable"
    age = ""
    if status.last_message_at is not None:
        age = f", last alert {time.time() - status.last_message_at:.0f} s ago"
    return f"{state} · {status.window_size} alerts in memory{age}"


def status_sidebar(ctx: Context) -> None:
    """Service health in the sidebar, refreshed on its own timer."""

    @st.fragment(run_every=ctx.refresh)
    def _status() -> None:
        status = ctx.feed.status()
        st.caption("**Live feed**")
        st.caption(feed_caption(status))
        try:
            ctx.archive.ping()
            st.caption("**Archive**")
            st.caption(":green[●] PostgreSQL reachable (read-only session)")
        except ArchiveUnavailable as exc:
            st.caption("**Archive**")
            st.caption(f":red[●] PostgreSQL unavailable: {exc}")
        st.caption(f"consumer group `{status.group_id}`")

    with st.sidebar:
        _status()
