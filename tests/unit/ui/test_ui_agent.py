"""Agent tab: chat history, citations (document ids, SQL in an expander), offline badge, drafts."""

from __future__ import annotations

import pytest
from conftest import CHAT, FakeClient
from streamlit.testing.v1 import AppTest

from fraudlake.api.models import Citations
from fraudlake.ui.client import ApiError

pytestmark = pytest.mark.unit


def _ask(app: AppTest, question: str) -> AppTest:
    app.chat_input(key="agent_input").set_value(question).run()
    assert not app.exception
    return app


def test_chat_shows_answer_citations_sql_and_offline_badge(app: AppTest, fake_client: FakeClient) -> None:
    app.run()
    _ask(app, "Which merchants had the most fraud?")
    assert ("chat", ("Which merchants had the most fraud?", None)) in fake_client.calls
    markdown = "\n".join(m.value for m in app.markdown)
    assert "Merchant 42 had 7 frauds" in markdown
    assert "Offline mode]" in markdown
    assert "merchant:42" in markdown
    expander = app.expander[0]
    assert expander.label.startswith("Sources · 1 documents, 1 queries")
    assert "SELECT merchant_id" in expander.code[0].value
    assert len(expander.dataframe) == 1


def test_chat_history_keeps_turns_and_session(app: AppTest, fake_client: FakeClient) -> None:
    no_citations = Citations(documents=[], sql=[], scores=[])
    fake_client.chat_answer = CHAT.model_copy(update={"offline": False, "citations": no_citations})
    app.run()
    _ask(app, "first question")
    _ask(app, "second question")
    chats = [arg for name, arg in fake_client.calls if name == "chat"]
    assert chats == [("first question", None), ("second question", "s-1")]
    users = [m for m in app.chat_message if m.name == "user"]
    assert len(users) == 2
    assert "Offline mode" not in "\n".join(m.value for m in app.markdown)
    assert not app.expander


def test_chat_error_is_readable(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["chat"] = ApiError(401, "unauthorized", "invalid API key")
    app.run()
    _ask(app, "anything")
    assert "Set FRAUDLAKE_API_KEY" in app.error[0].value


def test_chat_endpoint_missing_is_said_plainly(app: AppTest, fake_client: FakeClient) -> None:
    from fraudlake.ui.client import EndpointMissingError

    fake_client.failures["chat"] = EndpointMissingError("/v1/agent/chat")
    app.run()
    _ask(app, "anything")
    assert "Not available from this API" in app.info[0].value


def test_draft_notification_for_an_alert(app: AppTest, fake_client: FakeClient) -> None:
    app.run()
    app.text_input(key="agent_alert_id").set_value("a1b2").run()
    app.button(key="agent_draft_button").click().run()
    assert ("draft_notification", "a1b2") in fake_client.calls
    markdown = "\n".join(m.value for m in app.markdown)
    assert "Unusual activity on your card" in markdown
    assert "Offline template]" in markdown
