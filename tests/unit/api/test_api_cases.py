"""/v1/cases over an in-memory case store: filters reach the store, who acted comes from the caller,
bad input and forbidden transitions are 4xx, the agent summarises a case off the event loop, and the
routes need the API key."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from api_kit import AUTH, api_settings, registry_with
from fastapi.testclient import TestClient

from fraudlake.agent.case_summary import CaseBrief
from fraudlake.agent.service import AgentService
from fraudlake.api.deps import case_access
from fraudlake.api.main import create_app
from fraudlake.api.models import ANALYST_HEADER
from fraudlake.cases import logic
from fraudlake.cases.store import CaseAction, CaseDetail, CaseNotFoundError, CaseSummary, QueueFilter

T = TypeVar("T")
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def _case(card: str, score: float, amount: float) -> CaseSummary:
    return CaseSummary(
        case_id=logic.case_id(card, DAY), card_id=card, window_start=DAY, status="open",
        priority=logic.priority(score, amount), alerts=1, max_score=score, max_amount=amount,
        first_at=DAY, last_at=DAY, sources=["model"],
    )  # fmt: skip


class MemoryCases:
    """The CaseStore's interface over a dict, with the real transition and label rules."""

    def __init__(self, cases: list[CaseSummary]):
        self.cases = {c.case_id: c for c in cases}
        self.actions: list[CaseAction] = []
        self.labels: dict[str, int] = {}
        self.filters: list[QueueFilter] = []

    async def run(self, work: Callable[[Any], T]) -> T:
        return work(self)

    def queue(self, wanted: QueueFilter) -> list[CaseSummary]:
        self.filters.append(wanted)
        found = [c for c in self.cases.values() if c.status in wanted.statuses]
        found = [c for c in found if c.priority >= wanted.min_priority]
        return sorted(found, key=lambda c: -c.priority)[: wanted.limit]

    def case(self, id_: str) -> CaseDetail:
        if id_ not in self.cases:
            raise CaseNotFoundError(f"no case {id_}")
        detail_time = datetime(2026, 3, 1, 10, tzinfo=UTC)
        alert = {"alert_id": "a1", "txn_id": "t1", "event_ts": detail_time, "score": 0.9}
        mine = [a for a in self.actions if a.case_id == id_]
        return CaseDetail(self.cases[id_], ["m1"], [alert], [], [], [], mine)

    def act(self, id_: str, action: logic.Action, note: str, actor: str, at: datetime) -> CaseAction:
        if id_ not in self.cases:
            raise CaseNotFoundError(f"no case {id_}")
        status = logic.next_status(self.cases[id_].status, action)
        self.cases[id_] = replace(self.cases[id_], status=status)
        label = logic.label_for(action)
        if label is not None:
            self.labels[id_] = label
        done = CaseAction(id_, action, status, note, actor, at)
        self.actions.append(done)
        return done

    def label_counts(self) -> dict[str, int]:
        return {"analyst": len(self.labels)} if self.labels else {}


@pytest.fixture
def cases() -> MemoryCases:
    return MemoryCases([_case("c-1", 0.95, 2000.0), _case("c-2", 0.3, 10.0)])


def _app_over(cases: MemoryCases, **settings: Any) -> TestClient:
    app = create_app(api_settings(startup_model_wait_seconds=0, **settings), registry_with())

    async def memory() -> MemoryCases:
        return cases

    app.dependency_overrides[case_access] = memory
    # The agent without an LLM (no AWS here): the offline template.
    app.state.services.agent = AgentService(app.state.services.settings, use_llm=False)
    return TestClient(app)


@pytest.fixture
def api(cases: MemoryCases) -> Iterator[TestClient]:
    with _app_over(cases) as client:
        yield client


def test_queue_is_ordered_by_priority_and_passes_the_filters(api: TestClient, cases: MemoryCases) -> None:
    got = api.get("/v1/cases", headers=AUTH)
    assert got.status_code == 200, got.text
    assert [c["card_id"] for c in got.json()["cases"]] == ["c-1", "c-2"]
    assert cases.filters[-1].statuses == ("open", "escalated")

    filtered = api.get(
        "/v1/cases",
        params={
            "status": ["open", "confirmed_fraud"],
            "min_priority": 50,
            "source": "rule:burst",
            "limit": 5,
            "since": "2026-02-27",
        },
        headers=AUTH,
    )
    assert [c["card_id"] for c in filtered.json()["cases"]] == ["c-1"]
    wanted = cases.filters[-1]
    assert (wanted.statuses, wanted.min_priority, wanted.source, wanted.limit, wanted.since) == (
        ("open", "confirmed_fraud"), 50, "rule:burst", 5, datetime(2026, 2, 27, tzinfo=UTC),
    )  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [{"status": "closed"}, {"min_priority": 101}, {"limit": 0}, {"source": "everything"}, {"since": "27/2"}],
)
def test_bad_queue_filters_are_422(api: TestClient, params: dict[str, Any]) -> None:
    got = api.get("/v1/cases", params=params, headers=AUTH)
    assert got.status_code == 422, got.text
    assert got.json()["error"] == "validation_error"


def test_case_detail_and_unknown_cases(api: TestClient) -> None:
    got = api.get("/v1/cases/case-20260301-c-1", headers=AUTH)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["case"]["case_id"] == "case-20260301-c-1"
    assert body["alerts"][0]["event_ts"] == "2026-03-01T10:00:00Z"
    assert api.get("/v1/cases/case-20260302-c-1", headers=AUTH).status_code == 404
    assert api.get("/v1/cases/case-20261399-c-1", headers=AUTH).status_code == 404  # no such day
    assert api.get("/v1/cases/not-a-case", headers=AUTH).status_code == 422


def test_action_is_recorded_with_the_analyst_and_closes_the_case(api: TestClient, cases: MemoryCases) -> None:
    headers = AUTH | {ANALYST_HEADER: quote("Renée Roe@bank.example")}
    done = api.post(
        "/v1/cases/case-20260301-c-1/actions",
        json={"action": "confirm_fraud", "note": "customer denied"},
        headers=headers,
    )
    assert done.status_code == 201, done.text
    record = done.json()
    assert (record["actor"], record["status"], record["note"]) == (
        "Renée Roe@bank.example", "confirmed_fraud", "customer denied",
    )  # fmt: skip
    assert api.get("/v1/cases/labels", headers=AUTH).json() == {"analyst": 1, "chargeback": 0}
    trail = api.get("/v1/cases/case-20260301-c-1", headers=AUTH).json()["actions"]
    assert [a["action"] for a in trail] == ["confirm_fraud"]

    again = api.post("/v1/cases/case-20260301-c-1/actions", json={"action": "escalate"}, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["error"] == "case_transition"


def test_without_an_analyst_the_key_identity_acts(api: TestClient) -> None:
    done = api.post("/v1/cases/case-20260301-c-2/actions", json={"action": "escalate"}, headers=AUTH)
    assert done.status_code == 201, done.text
    assert done.json()["actor"] == "key-1"


@pytest.mark.parametrize(
    "body",
    [{"action": "delete"}, {"action": "escalate", "note": "x" * 2001}, {"action": "escalate", "who": "x"}],
)
def test_bad_actions_are_422(api: TestClient, body: dict[str, Any]) -> None:
    got = api.post("/v1/cases/case-20260301-c-1/actions", json=body, headers=AUTH)
    assert got.status_code == 422, got.text


def test_unknown_case_action_is_404(api: TestClient) -> None:
    got = api.post("/v1/cases/case-20260301-c-9/actions", json={"action": "escalate"}, headers=AUTH)
    assert got.status_code == 404


def test_cases_need_the_api_key(api: TestClient) -> None:
    assert api.get("/v1/cases").status_code == 401
    assert api.post("/v1/cases/case-20260301-c-1/actions", json={"action": "escalate"}).status_code == 401
    assert api.post("/v1/cases/case-20260301-c-1/summary").status_code == 401


def test_the_agent_summarises_a_case(api: TestClient) -> None:
    got = api.post("/v1/cases/case-20260301-c-1/summary", headers=AUTH)
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["case_id"], body["offline"], body["provider"], body["notes"]) == (
        "case-20260301-c-1", True, "offline", [],
    )  # fmt: skip
    assert body["request_id"]
    assert body["summary"].startswith("What happened: 1 transaction on card c-1 was flagged at 2026-03-01")
    assert "\n\nSuggested next step: " in body["summary"]
    assert body["facts"][0] == "Case: case-20260301-c-1 (card c-1, UTC day 2026-03-01)"


def test_unknown_cases_have_no_summary(api: TestClient) -> None:
    assert api.post("/v1/cases/case-20260302-c-1/summary", headers=AUTH).status_code == 404
    assert api.post("/v1/cases/case-20261399-c-1/summary", headers=AUTH).status_code == 404  # no such day
    assert api.post("/v1/cases/not-a-case/summary", headers=AUTH).status_code == 422


def test_the_summary_is_written_off_the_event_loop(api: TestClient) -> None:
    seen: list[str] = []

    class RecordingAgent:
        def case_summary(self, detail: Any) -> CaseBrief:
            try:
                asyncio.get_running_loop()
                seen.append("on the event loop")
            except RuntimeError:
                seen.append("in a worker thread")
            return CaseBrief(detail.summary.case_id, "Written.", False, "bedrock:test", ["Case: x"])

    api.app.state.services.agent = RecordingAgent()  # type: ignore[attr-defined]
    got = api.post("/v1/cases/case-20260301-c-2/summary", headers=AUTH).json()
    assert (got["summary"], got["offline"], got["provider"]) == ("Written.", False, "bedrock:test")
    assert seen == ["in a worker thread"]


def test_summaries_share_the_notification_drafts_rate_limit(cases: MemoryCases) -> None:
    with _app_over(cases, rate_limit_notification_burst=1, rate_limit_notification_per_minute=1) as api:
        assert api.post("/v1/cases/case-20260301-c-1/summary", headers=AUTH).status_code == 200
        limited = api.post("/v1/cases/case-20260301-c-1/summary", headers=AUTH)
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"


def test_without_clickhouse_the_cases_are_503() -> None:
    app = create_app(api_settings(startup_model_wait_seconds=0), registry_with())
    with TestClient(app) as client:
        got = client.get("/v1/cases", headers=AUTH)
    assert got.status_code == 503
    assert got.json()["error"] == "cases_unavailable"
