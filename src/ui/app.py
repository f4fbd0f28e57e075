"""Fraudlake analyst console, started by `fraudlake ui serve` (locally and in the image; it adds the theme).

The page assembles the tabs; each tab lives in its own module and reaches data only through the
scoring API (FRAUDLAKE_API_URL, FRAUDLAKE_API_KEY) via `fraudlake.ui.deps.get_client()`.
"""

from __future__ import annotations

import streamlit as st

from fraudlake.api.models import Pipeline
from fraudlake.ui import (
    agent_tab,
    cases_tab,
    deps,
    identity,
    live_tab,
    metrics,
    model_tab,
    pipelines_tab,
    score_tab,
)
from fraudlake.ui.client import ClientError, EndpointMissingError
from fraudlake.ui.theme import PRIMARY, error_message

PAGE_CSS = f"""
<style>
  .block-container {{ padding-top: 2.2rem; }}
  h1 {{ color: {PRIMARY}; font-weight: 700; letter-spacing: -0.5px; }}
  [data-testid="stSidebar"] {{ border-right: 1px solid #E3E8EF; }}
</style>
"""


def _signed_in() -> identity.Analyst:
    """This session's analyst; a request that does not prove one sees this message and nothing else."""
    try:
        return identity.current_analyst()
    except identity.IdentityError as exc:
        st.error(f"Sign-in required: {exc}", icon=":material/lock:")
        st.stop()


def _sidebar(client: object, analyst: identity.Analyst) -> None:
    with st.sidebar:
        st.markdown("### :material/shield: Fraudlake")
        st.caption("Real-time card-fraud detection")
        if analyst.signed_in:
            st.markdown(f":material/person: **{analyst.name}**")
        else:
            st.caption(":material/person_off: Local mode, no sign-in: actions are recorded as `local`")
        base_url = getattr(client, "base_url", "")
        try:
            model = client.model()  # type: ignore[attr-defined]
        except ClientError as exc:
            st.error(error_message(exc), icon=":material/cloud_off:")
        else:
            st.success("API connected", icon=":material/cloud_done:")
            st.markdown(f"**Model** `{model.version}`")
            review, decline = model.thresholds.review, model.thresholds.decline
            if review is not None or decline is not None:
                st.caption(f"Review ≥ {_threshold(review)} · Decline ≥ {_threshold(decline)}")
        if base_url:
            st.caption(f"API: `{base_url}`")


def _threshold(value: float | None) -> str:
    return "off" if value is None else f"{value:.2f}"


def _pipelines(client: object) -> list[Pipeline] | ClientError | None:
    """The pipelines, the error to show in their tab, or None when the API has no such endpoint."""
    try:
        return client.pipelines()  # type: ignore[attr-defined]
    except EndpointMissingError:
        return None
    except ClientError as exc:
        return exc


def main() -> None:
    metrics.serve_from_env()  # once per process; every rerun of the page finds it running
    st.set_page_config(page_title="Fraudlake · Analyst console", page_icon=":material/shield:", layout="wide")
    st.markdown(PAGE_CSS, unsafe_allow_html=True)
    analyst = _signed_in()
    client = deps.get_client()
    _sidebar(client, analyst)
    st.title("Fraud analyst console")
    pipelines = _pipelines(client)
    names = ["Score", "Agent", "Live", "Model", "Cases"] + (["Pipelines"] if pipelines is not None else [])
    # Bound to ?tab=<name>: a link can open a tab (and the e2e browser test uses that).
    tabs = st.tabs(names, key="tab", bind="query-params")
    with tabs[0]:
        score_tab.render()
    with tabs[1]:
        agent_tab.render()
    with tabs[2]:
        live_tab.render()
    with tabs[3]:
        model_tab.render()
    with tabs[4]:
        if tabs[4].open:  # only while shown: its queue is a ClickHouse query
            cases_tab.render()
    if pipelines is not None:
        with tabs[5]:
            if isinstance(pipelines, ClientError):
                st.error(error_message(pipelines), icon=":material/error:")
            else:
                pipelines_tab.render(pipelines)


main()
