"""Agent tab: chat with the fraud analyst agent (answers with their sources) and notification drafts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from fraudlake.api.models import ChatResponse, DocumentSource, NotificationResponse, SqlSource
from fraudlake.ui import deps
from fraudlake.ui.theme import call_api

HISTORY_KEY, SESSION_KEY, DRAFT_KEY = "agent_history", "agent_session_id", "agent_draft"
EXAMPLES = [
    "Which merchants had the most fraud this week?",
    "Why was the latest declined transaction flagged?",
    "What does the alerts table contain?",
]


@dataclass(frozen=True)
class Turn:
    question: str
    answer: ChatResponse


def render() -> None:
    chat_col, side_col = st.columns([7, 3], gap="large")
    with side_col:
        _side_panel()
    with chat_col:
        _chat()


def _chat() -> None:
    history: list[Turn] = st.session_state.setdefault(HISTORY_KEY, [])
    if not history:
        st.markdown("#### Ask the fraud analyst agent")
        st.caption("Answers come from the pipeline's data: indexed cases, profiles and read-only SQL. Try:")
        for example in EXAMPLES:
            st.markdown(f"- *{example}*")
    messages = st.container()
    with messages:
        for turn in history:
            render_turn(turn)
    question = st.chat_input("Ask about alerts, merchants, cards or the data…", key="agent_input")
    # ?ask=<question> (a shareable link, used by the browser test) asks once, on a fresh conversation.
    if not question and not history and "agent_asked" not in st.session_state and st.query_params.get("ask"):
        question = st.session_state["agent_asked"] = st.query_params["ask"]
    if question:
        with messages:
            with st.chat_message("user"):
                st.markdown(question)
            with st.spinner("Thinking…"):
                answer = call_api(deps.get_client().chat, question, st.session_state.get(SESSION_KEY))
        if answer is not None:
            st.session_state[SESSION_KEY] = answer.session_id
            history.append(Turn(question, answer))
            st.rerun()


def render_turn(turn: Turn) -> None:
    """One question and its answer, the offline badge and the sources in an expander."""
    with st.chat_message("user"):
        st.markdown(turn.question)
    with st.chat_message("assistant"):
        answer = turn.answer
        if answer.offline:
            st.badge(
                "Offline mode",
                icon=":material/cloud_off:",
                color="orange",
                help="No language model answered: this answer was assembled from the tools' results.",
            )
        st.markdown(answer.answer)
        for note in answer.notes:
            st.caption(note)
        documents, queries = answer.citations.documents, answer.citations.sql
        if documents or queries:
            with st.expander(f"Sources · {len(documents)} documents, {len(queries)} queries"):
                render_sources(documents, queries)


def render_sources(documents: list[DocumentSource], queries: list[SqlSource]) -> None:
    for doc in documents:
        st.markdown(f"**`{doc.id}`** {f'· {doc.kind}' if doc.kind else ''}")
        if doc.excerpt:
            st.caption(doc.excerpt)
    for query in queries:
        st.code(query.sql, language="sql")
        if query.columns:
            st.dataframe(pd.DataFrame(query.rows, columns=query.columns), hide_index=True, width="stretch")
        if query.truncated:
            st.caption("Only the first rows are shown: the query reached its row limit.")


def _side_panel() -> None:
    st.markdown("#### Draft a customer notification")
    st.caption("For an alert id from the Live tab: a formal letter, reviewed by an analyst before sending.")
    alert_id = st.text_input("Alert id", key="agent_alert_id", placeholder="e.g. 3f9c…")
    if st.button(
        "Draft notification", icon=":material/mail:", key="agent_draft_button", disabled=not alert_id.strip()
    ):
        st.session_state[DRAFT_KEY] = call_api(deps.get_client().draft_notification, alert_id.strip())
    draft = st.session_state.get(DRAFT_KEY)
    if draft is not None:
        render_draft(draft)
    if st.session_state.get(HISTORY_KEY):
        st.divider()
        if st.button("New conversation", icon=":material/restart_alt:", key="agent_reset"):
            st.session_state.pop(HISTORY_KEY, None)
            st.session_state.pop(SESSION_KEY, None)
            st.rerun()


def render_draft(draft: NotificationResponse) -> None:
    with st.container(border=True):
        if draft.offline:
            st.badge("Offline template", icon=":material/cloud_off:", color="orange")
        st.markdown(f"**{draft.subject}**")
        st.text(draft.body)
        for note in draft.notes:
            st.caption(note)
        if draft.sql:
            with st.expander("Facts used"):
                render_sources([], draft.sql)
