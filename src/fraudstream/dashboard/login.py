"""The login form in front of every page, when login is required (see auth.py)."""

from __future__ import annotations

import streamlit as st

from fraudstream.config import Settings
from fraudstream.dashboard import auth

ANALYST_KEY = "analyst"


def current_analyst() -> str | None:
    """The logged-in analyst of this browser session, if any."""
    name = st.session_state.get(ANALYST_KEY)
    return name if isinstance(name, str) else None


def gate(settings: Settings) -> None:
    """Stop the page run unless login is not required or the session is logged in."""
    try:
        users = auth.load(settings.dashboard_users_path)
    except auth.UsersFileError as exc:
        st.error(str(exc))
        st.stop()
    if not auth.login_required(settings, users):
        return
    name = current_analyst()
    if name is not None and name in users.hashes:
        with st.sidebar:
            st.caption(f"Signed in as **{name}**")
            if st.button("Sign out", key="sign_out"):
                del st.session_state[ANALYST_KEY]
                st.rerun()
        return
    _form(settings, users)
    st.stop()


def _form(settings: Settings, users: auth.Users) -> None:
    st.title("fraudstream: sign in")
    if not users:
        st.error(
            "Login is required on this address but no analyst is configured. "
            f"Add one with `fraudstream dashboard add-user NAME` ({settings.dashboard_users_path})."
        )
        return
    with st.form("login_form"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if users.verify(name, password):
            st.session_state[ANALYST_KEY] = name.strip()
            st.rerun()
        st.error("Wrong user name or password.")
