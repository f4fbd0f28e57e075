"""Pipelines tab: FraudPipeline resources and their conditions, when the API exposes them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fraudlake.ui.client import PipelineStatus


def render(pipelines: list[PipelineStatus]) -> None:
    """One card per pipeline: Ready badge and its conditions (Strimzi-style) as a table."""
    if not pipelines:
        st.info("No FraudPipeline resources found.", icon=":material/info:")
        return
    for pipeline in pipelines:
        with st.container(border=True):
            name_col, badge_col = st.columns([4, 1], vertical_alignment="center")
            name_col.markdown(
                f"#### {pipeline.name}" + (f"  \n`{pipeline.namespace}`" if pipeline.namespace else "")
            )
            with badge_col:
                st.badge(
                    "Ready" if pipeline.ready else "Not ready", color="green" if pipeline.ready else "red"
                )
            rows = [
                {
                    "type": c.type,
                    "status": c.status,
                    "reason": c.reason,
                    "message": c.message,
                    "since": c.last_transition,
                }
                for c in pipeline.conditions
            ]
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
