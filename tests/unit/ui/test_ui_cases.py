"""Cases tab: the queue with its filters, a case's view, the agent's summary on request, an action
through the API client; and the client's requests for the cases routes (against a mock transport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import APP, FakeClient
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Tab

from fraudlake.api.models import (
    CaseActionRecord,
    CaseDetail,
    CaseSummary,
    CaseSummaryResponse,
    LabelCounts,
)
from fraudlake.ui import deps
from fraudlake.ui.client import FraudlakeClient


def _summary(card: str, priority: int, status: str = "open") -> CaseSummary:
    return CaseSummary(
        case_id=f"case-20260407-{card}", card_id=card, window_start="2026-04-07T00:00:00Z", status=status,
        priority=priority, alerts=2, max_score=0.93, max_amount=1800.0, first_at="2026-04-07T09:00:00Z",
        last_at="2026-04-07T21:00:00Z", sources=["model", "rule:burst"],
    )  # fmt: skip


class CasesClient(FakeClient):
    """The conftest's fake API with cases: actions change the case's status as the API would."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = [_summary("7-0", 88), _summary("8-0", 41)]
        self.acted: list[tuple[str, str, str]] = []
        self.summary_offline = True

    def label_counts(self) -> LabelCounts:
        self._call("label_counts")
        return LabelCounts(analyst=len(self.acted), chargeback=5)

    def cases(self, statuses: list[str] | None = None, min_priority: int = 0, source: str | None = None,
              limit: int = 50, since: str | None = None) -> list[CaseSummary]:  # fmt: skip
        self._call("cases", (tuple(statuses or ()), min_priority, source))
        self.since = since
        return [c for c in self.queue if c.priority >= min_priority and c.status in (statuses or [])]

    def case(self, case_id: str) -> CaseDetail:
        self._call("case", case_id)
        found = next(c for c in self.queue if c.case_id == case_id)
        alert = {"alert_id": "a1", "txn_id": "t1", "source": "model", "score": 0.93, "message": "decline"}
        decision = {"txn_id": "t1", "amount": 1800.0, "reasons": [{"feature": "amount", "value": 1.2}],
                    "rules_fired": []}  # fmt: skip
        return CaseDetail(
            case=found, merchants=["m-shared"], alerts=[alert], decisions=[decision],
            transactions=[{"txn_id": "t1", "amount": 1800.0}], linked=[self.queue[-1]], actions=[],
        )  # fmt: skip

    def summarise_case(self, case_id: str) -> CaseSummaryResponse:
        self._call("summarise_case", case_id)
        offline = self.summary_offline
        return CaseSummaryResponse(
            request_id="r-9", case_id=case_id,
            summary="What happened: 2 transactions on card 7-0 were flagged, amounts $1,800.00, $600.00.\n\n"
                    "Suggested next step: Contact the cardholder to verify the flagged transactions.",
            offline=offline, provider="offline" if offline else "bedrock:anthropic.claude-test",
            facts=["Case: case-20260407-7-0 (card 7-0, UTC day 2026-04-07)", "Flagged amounts: $1,800.00"],
            notes=["The language model was unavailable (ClientError); this is the offline template."]
            if offline else [],
        )  # fmt: skip

    def act_on_case(self, case_id: str, action: str, note: str = "") -> CaseActionRecord:
        self._call("act_on_case", (case_id, action, note))
        self.acted.append((case_id, action, note))
        status = {"confirm_fraud": "confirmed_fraud", "not_fraud": "not_fraud", "escalate": "escalated"}[
            action
        ]
        self.queue = [
            c.model_copy(update={"status": status}) if c.case_id == case_id else c for c in self.queue
        ]
        return CaseActionRecord(
            case_id=case_id, action=action, status=status, note=note, actor="Ana Lyst",
            at="2026-04-08T10:00:00Z",
        )  # fmt: skip


@pytest.fixture
def cases_client() -> Iterator[CasesClient]:
    fake = CasesClient()
    original = deps.client_factory
    deps.client_factory = lambda: fake
    yield fake
    deps.client_factory = original


@pytest.fixture
def cases_app(cases_client: CasesClient) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=90)
    app.query_params["tab"] = "Cases"
    return app


def _cases_tab(app: AppTest) -> Tab:
    return next(tab for tab in app.tabs if tab.label == "Cases")


def test_cases_tab_is_not_queried_while_closed(app: AppTest, fake_client: FakeClient) -> None:
    app.run()
    assert not app.exception
    assert "Cases" in [tab.label for tab in app.tabs]
    assert not [name for name, _ in fake_client.calls if name in {"cases", "case", "label_counts"}]


def test_queue_case_view_and_an_action(cases_app: AppTest, cases_client: CasesClient) -> None:
    cases_app.run()
    assert not cases_app.exception
    tab = _cases_tab(cases_app)
    assert "Labels from analysts: **0**" in "".join(c.value for c in tab.caption)
    queue = tab.dataframe[0].value
    assert queue["Case"].tolist() == ["case-20260407-7-0", "case-20260407-8-0"]
    assert ("cases", (("open", "escalated"), 0, None)) in cases_client.calls
    assert tab.subheader[0].value == "Case case-20260407-7-0"
    assert tab.dataframe[2].value["reasons"].tolist() == ["feature=amount, value=1.2"]

    tab.text_area(key="case_note_case-20260407-7-0").input("customer denied both")
    tab.button(key="case_confirm_fraud_case-20260407-7-0").click()
    cases_app.run()
    assert not cases_app.exception
    assert cases_client.acted == [("case-20260407-7-0", "confirm_fraud", "customer denied both")]
    tab = _cases_tab(cases_app)
    assert "Confirm fraud recorded for case-20260407-7-0 by Ana Lyst" in tab.success[0].value
    # The confirmed case leaves the open queue; the analyst label is counted.
    assert tab.dataframe[0].value["Case"].tolist() == ["case-20260407-8-0"]
    assert "Labels from analysts: **1**" in "".join(c.value for c in tab.caption)


def test_the_agent_s_summary_is_asked_for_and_kept_until_the_case_changes(
    cases_app: AppTest, cases_client: CasesClient
) -> None:
    cases_app.run()
    assert not [name for name, _ in cases_client.calls if name == "summarise_case"]  # an LLM call: asked for
    tab = _cases_tab(cases_app)
    assert any("The agent's summary of the case" in c.value for c in tab.caption)

    tab.button(key="case_summarise_case-20260407-7-0").click()
    cases_app.run()
    assert not cases_app.exception
    tab = _cases_tab(cases_app)
    shown = "\n".join(m.value for m in tab.markdown)
    assert r"amounts \$1,800.00, \$600.00." in shown  # dollars escaped: not read as LaTeX
    assert "Suggested next step: Contact the cardholder" in shown
    assert "Offline template" in shown
    assert any("this is the offline template" in c.value for c in tab.caption)
    assert r"- Flagged amounts: \$1,800.00" in shown

    tab.text_area(key="case_note_case-20260407-7-0").input("called the customer")
    cases_app.run()  # any rerun keeps the summary, without asking again
    assert "Suggested next step" in "\n".join(m.value for m in _cases_tab(cases_app).markdown)
    assert [name for name, _ in cases_client.calls].count("summarise_case") == 1

    _cases_tab(cases_app).button(key="case_escalate_case-20260407-7-0").click()
    cases_app.run()  # the case changed: its summary is stale
    assert "Suggested next step" not in "\n".join(m.value for m in _cases_tab(cases_app).markdown)


def test_an_llm_summary_names_its_provider(cases_app: AppTest, cases_client: CasesClient) -> None:
    cases_client.summary_offline = False
    cases_app.run()
    _cases_tab(cases_app).button(key="case_summarise_case-20260407-7-0").click()
    cases_app.run()
    shown = "\n".join(m.value for m in _cases_tab(cases_app).markdown)
    assert "Written by bedrock:anthropic.claude-test" in shown
    assert "Offline template" not in shown


def test_filters_reach_the_api(cases_app: AppTest, cases_client: CasesClient) -> None:
    cases_app.run()
    tab = _cases_tab(cases_app)
    tab.slider(key="cases_min_priority").set_value(50)
    tab.selectbox(key="cases_source").set_value("Any rule")
    tab.multiselect(key="cases_status").set_value(["escalated"])
    tab.selectbox(key="cases_days").set_value("Last 7 days")
    cases_app.run()
    assert not cases_app.exception
    assert cases_client.calls[-1][0] != "case"  # nothing matched: no case opened
    assert ("cases", (("escalated",), 50, "rule")) in cases_client.calls
    assert "No case matches" in _cases_tab(cases_app).info[0].value
    assert cases_client.since == (datetime.now(UTC).date() - timedelta(days=6)).isoformat()


def test_client_sends_the_cases_requests() -> None:
    seen: list[httpx.Request] = []
    summary = _summary("7-0", 88).model_dump()

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/summary"):
            return httpx.Response(200, json={
                "request_id": "r", "case_id": "case-20260407-7-0", "summary": "What happened: …",
                "offline": True, "provider": "offline", "facts": [], "notes": [], "added_later": 1,
            })  # fmt: skip
        if request.method == "POST":
            body = json.loads(request.content)
            record = {"case_id": "case-20260407-7-0", "status": "escalated", "actor": "Ana Lyst",
                      "at": "2026-04-08T10:00:00Z"}  # fmt: skip
            return httpx.Response(201, json=record | body)
        return httpx.Response(200, json={"cases": [summary]})

    client = FraudlakeClient("http://api", "k", transport=httpx.MockTransport(answer), analyst="Ana Lyst")
    got = client.cases(["open", "escalated"], 30, "rule:burst", 10, "2026-04-01")
    done = client.act_on_case("case-20260407-7-0", "escalate", "big ticket")
    brief = client.summarise_case("case-20260407-7-0")
    assert [c.case_id for c in got] == ["case-20260407-7-0"]
    assert (done.action, done.note) == ("escalate", "big ticket")
    params: Any = seen[0].url.params
    assert (params.get_list("status"), params["min_priority"], params["source"], params["limit"]) == (
        ["open", "escalated"], "30", "rule:burst", "10",
    )  # fmt: skip
    assert params["since"] == "2026-04-01"
    assert seen[1].url.path == "/v1/cases/case-20260407-7-0/actions"
    assert seen[1].headers["X-Fraudlake-Analyst"] == "Ana Lyst".replace(" ", "%20")
    assert (seen[2].method, seen[2].url.path) == ("POST", "/v1/cases/case-20260407-7-0/summary")
    assert (brief.summary, brief.offline) == ("What happened: …", True)  # a field added later is ignored
