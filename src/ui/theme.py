"""Look and feel shared by the tabs: colors, decision badges, and readable API error messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import streamlit as st

from fraudlake.ui.client import ApiError, ApiUnreachableError, ClientError, EndpointMissingError

T = TypeVar("T")

PRIMARY = "#1F4E79"
DECISION_COLORS = {"approve": "#2E7D32", "review": "#F9A825", "decline": "#C62828"}
DECISION_LABELS = {"approve": "Approve", "review": "Review", "decline": "Decline"}
# Streamlit badge colors closest to DECISION_COLORS (`st.badge` takes only its named colors).
BadgeColor = Literal["green", "orange", "red", "gray"]
DECISION_BADGE: dict[str, BadgeColor] = {"approve": "green", "review": "orange", "decline": "red"}
RAISES_COLOR, LOWERS_COLOR = "#C62828", "#2E7D32"

# Streamlit's own theme options, passed as `streamlit run` flags by `fraudlake ui serve`, which is how the UI
# starts everywhere (locally, in the demo, in Dockerfile.ui). The one definition: no .streamlit/config.toml.
STREAMLIT_THEME = {
    "theme.base": "light",
    "theme.primaryColor": PRIMARY,
    "theme.backgroundColor": "#FFFFFF",
    "theme.secondaryBackgroundColor": "#F2F5F9",
    "theme.textColor": "#1B1F24",
}


def error_message(exc: ClientError) -> str:
    """One readable paragraph for an API failure: what happened and what to do about it."""
    if isinstance(exc, ApiUnreachableError):
        return (
            f"The scoring API is unreachable — {exc}. "
            "Check that it runs and that FRAUDLAKE_API_URL points to it."
        )
    if isinstance(exc, EndpointMissingError):
        return f"Not available from this API: {exc.path} is not offered by the API you are connected to."
    if isinstance(exc, ApiError):
        return _api_error_message(exc)
    return str(exc)


def _api_error_message(exc: ApiError) -> str:
    if exc.status == 401:
        return f"The API refused the request: {exc.message}. Set FRAUDLAKE_API_KEY to one of the API's keys."
    if exc.status == 422:
        if exc.fields:
            problems = "\n".join(f"- **{f.field}**: {f.message}" for f in exc.fields)
            return f"The API rejected the input:\n\n{problems}"
        return f"The API rejected the input: {exc.message}"
    if exc.status == 400:  # the SQL guard's refusal or ClickHouse's error: its message says it all
        return exc.message[:1].upper() + exc.message[1:]
    if exc.code == "agent_unavailable":
        return f"The agent is not configured on this API: {exc.message}"
    if exc.status == 503:
        return f"The API is up but not ready yet: {exc.message}"
    return f"The API answered {exc.status} ({exc.code}): {exc.message}"


def show_error(exc: ClientError) -> None:
    """Render an API failure; a missing feature is information, not an error."""
    if isinstance(exc, EndpointMissingError):
        st.info(error_message(exc), icon=":material/block:")
    else:
        st.error(error_message(exc), icon=":material/error:")


def call_api(action: Callable[..., T], *args: Any) -> T | None:
    """`action(*args)`, or None after showing the failure readably (never a traceback)."""
    try:
        return action(*args)
    except ClientError as exc:
        show_error(exc)
        return None


def decision_badge(decision: str) -> None:
    st.badge(DECISION_LABELS.get(decision, decision.title()), color=DECISION_BADGE.get(decision, "gray"))
