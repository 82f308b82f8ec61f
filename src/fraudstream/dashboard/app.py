"""The Streamlit entry point: ``streamlit run`` this file (``fraudstream dashboard``)."""

from __future__ import annotations

import streamlit as st

from fraudstream.config import load_settings
from fraudstream.dashboard import login, state, ui
from fraudstream.dashboard.views import alerts, analytics, overview, rules, triage


def main() -> None:
    st.set_page_config(page_title="fraudstream", page_icon=":material/shield:", layout="wide")
    login.gate(load_settings())
    pages = [
        st.Page(
            overview.render,
            title="Overview",
            icon=":material/monitoring:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            alerts.render, title="Alerts", icon=":material/notifications_active:", url_path="alerts"
        ),
        st.Page(
            analytics.render, title="Analytics", icon=":material/public:", url_path="analytics"
        ),
        st.Page(rules.render, title="Rules", icon=":material/rule:", url_path="rules"),
        st.Page(triage.render, title="Triage", icon=":material/task_alt:", url_path="triage"),
    ]
    navigation = st.navigation(pages)
    ui.status_sidebar(state.context())
    navigation.run()


main()
