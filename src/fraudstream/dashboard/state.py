"""Per-process resources shared by every browser session.

Streamlit re-runs page scripts on each interaction and refresh; what must live
once per server process (the Kafka consumer and its window) is held in
``st.cache_resource``. Settings are read from the ``FRAUDSTREAM_*``
environment on each run, which is cheap and lets tests point the app at their
own database and topics.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from fraudstream.config import Settings, load_settings
from fraudstream.dashboard import frames
from fraudstream.dashboard.alerts_feed import AlertFeed, start_feed
from fraudstream.dashboard.queries import Archive


@dataclass(frozen=True)
class Context:
    settings: Settings
    feed: AlertFeed
    archive: Archive

    @property
    def refresh(self) -> float:
        return self.settings.dashboard_refresh_seconds


@st.cache_resource(show_spinner=False)
def _feed(bootstrap: str, topic: str, group: str | None, window: int, _s: Settings) -> AlertFeed:
    del bootstrap, topic, group, window  # the cache key
    return start_feed(_s)


def feed(settings: Settings) -> AlertFeed:
    key = (
        settings.bootstrap_servers,
        settings.topic_alerts,
        settings.dashboard_group_id,
        settings.dashboard_window,
    )
    current = _feed(*key, settings)
    if not current.running:
        # The consumer thread only ends on a bug; start a fresh one.
        _feed.clear()
        current = _feed(*key, settings)
    return current


_frames: dict[int, tuple[int, pd.DataFrame]] = {}
_frames_lock = threading.Lock()


def live_alerts(feed: AlertFeed) -> pd.DataFrame:
    """The feed's window as a frame, built once per change and shared by sessions.

    Callers filter and slice it, which copies; they never modify it in place.
    """
    version, alerts = feed.window.versioned()
    with _frames_lock:
        cached = _frames.get(id(feed))
        if cached is not None and cached[0] == version:
            return cached[1]
    frame = frames.alerts_frame(alerts)
    with _frames_lock:
        _frames[id(feed)] = (version, frame)
    return frame


def context() -> Context:
    settings = load_settings()
    return Context(settings=settings, feed=feed(settings), archive=Archive(settings.dashboard_dsn))
