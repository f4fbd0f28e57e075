"""Pipelines tab: FraudPipeline resources and their conditions, when the API reads Kubernetes.

An overview table with kubectl's columns (Ready, Topics, Tables, generations), then one expander per
pipeline with its Strimzi-style conditions. Pipelines that are not ready open expanded: they are
what the analyst came to look at.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from fraudlake.api.models import Pipeline

# (text color, background) of the Ready and condition-status cells: the table's badges.
STATE_STYLE = {
    "Ready": ("#1E7B34", "#E6F4EA"),
    "True": ("#1E7B34", "#E6F4EA"),
    "Not ready": ("#B3261E", "#FDECEA"),
    "False": ("#B3261E", "#FDECEA"),
    "Pending": ("#8A5A00", "#FFF4D6"),
    "Unknown": ("#8A5A00", "#FFF4D6"),
}
BADGE_COLOR: dict[str, Literal["green", "red", "orange"]] = {
    "Ready": "green",
    "Not ready": "red",
    "Pending": "orange",
}
STATE_ICON = {
    "Ready": ":material/check_circle:",
    "Not ready": ":material/error:",
    "Pending": ":material/pending:",
}


def state(pipeline: Pipeline) -> str:
    """Ready, Not ready, or Pending (the operator has not written any condition yet)."""
    if pipeline.ready:
        return "Ready"
    return "Not ready" if pipeline.conditions else "Pending"


def when(timestamp: str) -> str:
    """`2026-12-01T10:02:13Z` as `2026-12-01 10:02:13 UTC` (Kubernetes times are UTC)."""
    return timestamp.replace("T", " ").replace("Z", " UTC") if timestamp else ""


def generations(pipeline: Pipeline) -> str:
    observed = "–" if pipeline.observed_generation is None else str(pipeline.observed_generation)
    return f"{observed} / {pipeline.generation if pipeline.generation is not None else '–'}"


def overview(pipelines: list[Pipeline]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Namespace": p.namespace,
                "Name": p.name,
                "Ready": state(p),
                "Reason": p.reason,
                "Topics": p.topics_ready,
                "Tables": p.tables_ready,
                "Reconciled": generations(p),
                "Created": when(p.created),
            }
            for p in pipelines
        ]
    )


def conditions_frame(pipeline: Pipeline) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Type": c.type,
                "Status": c.status,
                "Reason": c.reason,
                "Message": c.message,
                "Last transition": when(c.last_transition_time),
            }
            for c in pipeline.conditions
        ]
    )


def badges(data: pd.DataFrame, column: str) -> Styler:
    """`data` with the `column` cells colored like badges (green True/Ready, red False, amber else)."""

    def cell(value: object) -> str:
        color, background = STATE_STYLE.get(str(value), STATE_STYLE["Unknown"])
        return f"color: {color}; background-color: {background}; font-weight: 600"

    return data.style.map(cell, subset=[column])


def render(pipelines: list[Pipeline]) -> None:
    if not pipelines:
        st.info(
            "No FraudPipeline resources in the cluster yet: create one with "
            "`kubectl apply -f operator/examples/pipeline.yaml`.",
            icon=":material/info:",
        )
        return
    _summary(pipelines)
    st.dataframe(badges(overview(pipelines), "Ready"), hide_index=True, width="stretch")
    st.caption("Reconciled: the generation the operator last reconciled / the latest spec generation.")
    st.markdown("#### Conditions")
    for pipeline in pipelines:
        _pipeline_conditions(pipeline)


def _summary(pipelines: list[Pipeline]) -> None:
    ready = sum(p.ready for p in pipelines)
    behind = sum(not p.up_to_date for p in pipelines)
    total, ready_col, behind_col = st.columns(3)
    total.metric("Pipelines", len(pipelines), border=True)
    ready_col.metric("Ready", f"{ready} / {len(pipelines)}", border=True)
    behind_col.metric("Spec not yet reconciled", behind, border=True)


def _pipeline_conditions(pipeline: Pipeline) -> None:
    label = state(pipeline)
    why = f" ({pipeline.reason})" if pipeline.reason and not pipeline.ready else ""
    title = f"**{pipeline.namespace}/{pipeline.name}** — :{BADGE_COLOR[label]}[{label}{why}]"
    with st.expander(title, expanded=not pipeline.ready, icon=STATE_ICON[label]):
        st.badge(label, color=BADGE_COLOR[label])
        if pipeline.conditions and not pipeline.up_to_date:
            st.caption(
                f"The operator has not reconciled the latest spec yet (generation {generations(pipeline)})."
            )
        if pipeline.conditions:
            # A static table: condition messages are sentences and wrap instead of being cut off.
            st.table(badges(conditions_frame(pipeline), "Status"), hide_index=True, border="horizontal")
        else:
            st.caption("No conditions yet: the operator has not reconciled this pipeline.")
