"""Cases tab: the analysts' queue of fraud cases (GET /v1/cases), one case with its context, the agent's
summary of it on request (POST /v1/cases/{id}/summary), and the actions confirm fraud / not fraud /
escalate with a note (POST /v1/cases/{id}/actions).

A case is a card's flagged transactions of one UTC day. The API records who acted (this console's
signed-in analyst) and when; a disposition also labels the case's transactions for training, and the
tab's header counts those analyst labels.

Rendered only while the tab is open (app.py): the queue is a ClickHouse query, not worth running on
every rerun of the other tabs. The summary is asked for with a button, not on opening a case: with
Bedrock each one is an LLM call. It is kept for the session until the case changes (its status or its
number of flagged transactions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from fraudlake.api.models import CaseDetail, CaseSummary, CaseSummaryResponse
from fraudlake.ui import deps
from fraudlake.ui.theme import call_api

STATUS_LABELS = {
    "open": "Open",
    "escalated": "Escalated",
    "confirmed_fraud": "Confirmed fraud",
    "not_fraud": "Not fraud",
}
SOURCE_CHOICES = {"Any": None, "Model": "model", "Any rule": "rule"}
# The queue reads every case of the days chosen: fewer days, a faster queue.
DAY_CHOICES = {"All days": None, "Last 7 days": 7, "Last 30 days": 30}
ACTION_LABELS = {"confirm_fraud": "Confirm fraud", "not_fraud": "Not fraud", "escalate": "Escalate"}
# What the API allows from each status (fraudlake.cases.logic): offered as buttons, the API decides.
ACTIONS_FROM = {
    "open": ["confirm_fraud", "not_fraud", "escalate"],
    "escalated": ["confirm_fraud", "not_fraud"],
    "confirmed_fraud": [],
    "not_fraud": [],
}
SUMMARIES_KEY = "case_summaries"


def queue_frame(cases: list[CaseSummary]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Case": c.case_id,
                "Card": c.card_id,
                "Day": c.window_start[:10],
                "Priority": c.priority,
                "Status": STATUS_LABELS[c.status],
                "Alerts": c.alerts,
                "Top score": round(c.max_score, 3),
                "Top amount": round(c.max_amount, 2),
                "Flagged by": ", ".join(c.sources),
                "Last alert": c.last_at,
            }
            for c in cases
        ],
        columns=["Case", "Card", "Day", "Priority", "Status", "Alerts", "Top score", "Top amount",
                 "Flagged by", "Last alert"],
    )  # fmt: skip


def _rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rows])


def _cell(value: Any) -> Any:
    """Lists and dicts (reasons, rules) as short text: a table cell cannot hold them."""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return value


def _filters() -> tuple[list[str], int, str | None, str | None]:
    left, middle, right, days_column = st.columns([3, 2, 2, 2])
    statuses = left.multiselect(
        "Status", list(STATUS_LABELS), default=["open", "escalated"],
        format_func=STATUS_LABELS.__getitem__, key="cases_status",
    )  # fmt: skip
    min_priority = middle.slider("Minimum priority", 0, 100, 0, key="cases_min_priority")
    source = right.selectbox("Flagged by", list(SOURCE_CHOICES), key="cases_source")
    days = DAY_CHOICES[days_column.selectbox("Days", list(DAY_CHOICES), key="cases_days")]
    since = None if days is None else (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
    return statuses, min_priority, SOURCE_CHOICES[source], since


def _case_view(client: Any, detail: CaseDetail) -> None:
    case = detail.case
    st.subheader(f"Case {case.case_id}")
    cols = st.columns(5)
    cols[0].metric("Priority", case.priority)
    cols[1].metric("Status", STATUS_LABELS[case.status])
    cols[2].metric("Flagged transactions", case.alerts)
    cols[3].metric("Top score", f"{case.max_score:.3f}")
    cols[4].metric("Top amount", f"${case.max_amount:,.2f}")
    st.caption(f"Card `{case.card_id}` · merchants {', '.join(detail.merchants) or 'none'}")
    _agent_summary(client, case)

    st.markdown("**Alerts** (reasons and rules)")
    st.dataframe(_rows(detail.alerts), hide_index=True, width="stretch")
    if detail.decisions:
        st.markdown("**Decisions** with the model's reasons and the rules fired")
        st.dataframe(_rows(detail.decisions), hide_index=True, width="stretch")
    st.markdown("**The card's recent transactions**")
    if detail.transactions:
        st.dataframe(_rows(detail.transactions), hide_index=True, width="stretch")
    else:
        st.caption("No transactions of this card in the lake yet.")
    st.markdown("**Linked cases** (the same card on other days, or a shared merchant)")
    if detail.linked:
        st.dataframe(queue_frame(detail.linked), hide_index=True, width="stretch")
    else:
        st.caption("None.")
    _actions(client, detail)


def _agent_summary(client: Any, case: CaseSummary) -> None:
    """The agent's summary on request, kept while the case is unchanged (an action or a new alert
    makes it stale)."""
    summaries: dict[str, CaseSummaryResponse] = st.session_state.setdefault(SUMMARIES_KEY, {})
    version = f"{case.case_id}/{case.status}/{case.alerts}"
    if st.button("Summarise", icon=":material/summarize:", key=f"case_summarise_{case.case_id}"):
        brief = call_api(client.summarise_case, case.case_id)
        if brief is not None:
            summaries[version] = brief
    brief = summaries.get(version)
    if brief is None:
        st.caption("The agent's summary of the case: what happened, why it was flagged, links, a next step.")
        return
    with st.container(border=True):
        if brief.offline:
            st.badge("Offline template", icon=":material/cloud_off:", color="orange")
        else:
            st.badge(f"Written by {brief.provider}", icon=":material/smart_toy:", color="blue")
        st.markdown(_plain_markdown(brief.summary))
        for note in brief.notes:
            st.caption(note)
        with st.expander("Facts given to the agent"):
            st.markdown("\n".join(f"- {_plain_markdown(fact)}" for fact in brief.facts))


def _plain_markdown(text: str) -> str:
    """`text` with its dollar signs escaped: two amounts on a line would read as LaTeX."""
    return text.replace("$", "\\$")


def _actions(client: Any, detail: CaseDetail) -> None:
    case = detail.case
    st.markdown("**Audit trail**")
    if detail.actions:
        trail = [{"At": a.at, "Who": a.actor, "Action": ACTION_LABELS[a.action],
                  "Status": STATUS_LABELS[a.status], "Note": a.note} for a in detail.actions]  # fmt: skip
        st.dataframe(pd.DataFrame(trail), hide_index=True, width="stretch")
    else:
        st.caption("No action yet.")
    allowed = ACTIONS_FROM[case.status]
    if not allowed:
        st.info("This case is closed.", icon=":material/lock:")
        return
    note = st.text_area("Note", key=f"case_note_{case.case_id}", placeholder="Why (stored with the action)")
    buttons = st.columns(len(allowed))
    for column, action in zip(buttons, allowed, strict=True):
        if column.button(ACTION_LABELS[action], key=f"case_{action}_{case.case_id}"):
            done = call_api(client.act_on_case, case.case_id, action, note)
            if done is not None:
                st.session_state["case_done"] = (
                    f"{ACTION_LABELS[done.action]} recorded for {done.case_id} by {done.actor} at {done.at}"
                )
                st.rerun()


def render() -> None:
    client = deps.get_client()
    st.markdown("Cases: a card's flagged transactions of one UTC day, highest priority first.")
    labels = call_api(client.label_counts)
    if labels is not None:
        st.caption(f"Labels from analysts: **{labels.analyst}** · from chargebacks: **{labels.chargeback}**")
    if done := st.session_state.pop("case_done", None):
        st.success(done, icon=":material/task_alt:")
    statuses, min_priority, source, since = _filters()
    if not statuses:
        st.info("Choose at least one status.")
        return
    cases = call_api(client.cases, statuses, min_priority, source, 50, since)
    if cases is None:
        return
    if not cases:
        st.info("No case matches these filters.", icon=":material/inbox:")
        return
    st.dataframe(queue_frame(cases), hide_index=True, width="stretch")
    ids = [c.case_id for c in cases]
    chosen = st.selectbox("Open case", ids, key="cases_open")
    detail = call_api(client.case, chosen)
    if detail is not None:
        _case_view(client, detail)
