"""/v1/cases: the analysts' queue of fraud cases, one case with its context, and actions on it.

A case is a card's flagged transactions of one UTC day (fraudlake.cases). Actions are appended to the
case's audit trail with who acted (the console's analyst, else the API key's identity) and when; a
disposition (confirm_fraud, not_fraud) also labels the case's transactions for training. The agent
summarises a case on request (POST …/summary): a Bedrock call when configured, rate-limited per API key
with the notification drafts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from fraudlake.api.case_access import CaseAccess, CasesUnavailableError
from fraudlake.api.deps import Agent, CallerDep, Cases, RateLimit
from fraudlake.api.errors import ApiError, NotFoundError, RateLimitedError, error_responses
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import (
    CASE_ID,
    CaseActionRecord,
    CaseActionRequest,
    CaseDetail,
    CaseQueue,
    CaseStatus,
    CaseSummary,
    CaseSummaryResponse,
    LabelCounts,
)
from fraudlake.api.ratelimit import NOTIFICATION
from fraudlake.cases import logic, store

router = APIRouter(prefix="/v1/cases", tags=["cases"])
MAX_QUEUE = 500


class CaseTransitionError(ApiError):
    status_code, code = 409, "case_transition"
    description = "The action is not allowed from the case's current status (a closed case stays closed)."


CaseIdPath = Annotated[str, Path(pattern=CASE_ID, description="case-<yyyymmdd>-<card_id>.")]


@router.get(
    "",
    response_model=CaseQueue,
    responses=error_responses(422, CasesUnavailableError),
    summary="The case queue: highest priority first.",
)
async def list_cases(
    cases: Cases,
    status: Annotated[
        list[CaseStatus] | None, Query(description="Repeat for several; unset: open and escalated.")
    ] = None,
    min_priority: Annotated[int, Query(ge=0, le=100)] = 0,
    source: Annotated[
        str | None,
        Query(
            pattern=r"^(model|rule|rule:[A-Za-z0-9_.-]{1,64})$",
            description="model, rule (any rule) or rule:<name>: what flagged the case.",
        ),
    ] = None,
    card_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = None,
    since: Annotated[
        date | None, Query(description="Cases of this UTC day and later (YYYY-MM-DD); unset: every day.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUEUE)] = 50,
) -> CaseQueue:
    wanted = store.QueueFilter(
        statuses=tuple(status or ("open", "escalated")),
        min_priority=min_priority,
        source=source,
        card_id=card_id,
        since=datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None,
        limit=limit,
    )
    found = await cases.run(lambda s: s.queue(wanted))
    return CaseQueue(cases=[_summary(c) for c in found])


@router.get(
    "/labels",
    response_model=LabelCounts,
    responses=error_responses(CasesUnavailableError),
    summary="How many transactions are labelled, by source (analyst dispositions, chargebacks).",
)
async def label_counts(cases: Cases) -> LabelCounts:
    counts = await cases.run(lambda s: s.label_counts())
    return LabelCounts(analyst=counts.get("analyst", 0), chargeback=counts.get("chargeback", 0))


@router.get(
    "/{case_id}",
    response_model=CaseDetail,
    responses=error_responses(NotFoundError, 422, CasesUnavailableError),
    summary="One case: its alerts, reasons and rules, the card's recent transactions, linked cases.",
)
async def get_case(case_id: CaseIdPath, cases: Cases) -> CaseDetail:
    found = await _case(cases, case_id)
    return CaseDetail(
        case=_summary(found.summary),
        merchants=found.merchants,
        alerts=[_plain(a) for a in found.alerts],
        decisions=[_plain(d) for d in found.decisions],
        transactions=[_plain(t) for t in found.transactions],
        linked=[_summary(c) for c in found.linked],
        actions=[_action(a) for a in found.actions],
    )


@router.post(
    "/{case_id}/actions",
    response_model=CaseActionRecord,
    status_code=201,
    responses=error_responses(NotFoundError, CaseTransitionError, 422, CasesUnavailableError),
    summary="Act on a case: confirm_fraud, not_fraud (both label its transactions) or escalate.",
)
async def act_on_case(
    case_id: CaseIdPath, body: CaseActionRequest, caller: CallerDep, cases: Cases
) -> CaseActionRecord:
    _check_day(case_id)
    at = datetime.now(UTC)
    try:
        done = await cases.run(lambda s: s.act(case_id, body.action, body.note, caller.who, at))
    except store.CaseNotFoundError as exc:
        raise NotFoundError(str(exc)) from None
    except logic.TransitionError as exc:
        raise CaseTransitionError(str(exc)) from None
    return _action(done)


@router.post(
    "/{case_id}/summary",
    response_model=CaseSummaryResponse,
    responses=error_responses(NotFoundError, 422, RateLimitedError, CasesUnavailableError),
    dependencies=[Depends(RateLimit(NOTIFICATION))],
    summary="The agent's summary of one case: what happened, why it was flagged, links, a next step.",
)
async def summarise_case(case_id: CaseIdPath, cases: Cases, agent: Agent) -> CaseSummaryResponse:
    found = await _case(cases, case_id)
    brief = await asyncio.to_thread(agent.case_summary, found)
    return CaseSummaryResponse(
        request_id=current_request_id(),
        case_id=brief.case_id,
        summary=brief.text,
        offline=brief.offline,
        provider=brief.provider,
        facts=brief.facts,
        notes=brief.notes,
    )


async def _case(cases: CaseAccess, case_id: str) -> store.CaseDetail:
    """The case's detail; 404 for an unknown case or an id whose day is no date."""
    _check_day(case_id)
    try:
        return await cases.run(lambda s: s.case(case_id))
    except store.CaseNotFoundError as exc:
        raise NotFoundError(str(exc)) from None


def _check_day(case_id: str) -> None:
    """404 for an id whose day is no date (20261399): no such case can exist."""
    try:
        logic.parse_case_id(case_id)
    except ValueError as exc:
        raise NotFoundError(str(exc)) from None


def _summary(case: store.CaseSummary) -> CaseSummary:
    return CaseSummary(
        case_id=case.case_id,
        card_id=case.card_id,
        window_start=_time(case.window_start),
        status=case.status,
        priority=case.priority,
        alerts=case.alerts,
        max_score=case.max_score,
        max_amount=case.max_amount,
        first_at=_time(case.first_at),
        last_at=_time(case.last_at),
        sources=case.sources,
    )


def _action(action: store.CaseAction) -> CaseActionRecord:
    return CaseActionRecord(
        case_id=action.case_id,
        action=action.action,
        status=action.status,
        note=action.note,
        actor=action.actor,
        at=_time(action.at),
    )


def _time(at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A ClickHouse row as JSON values (times as UTC RFC 3339)."""
    return {k: _time(v) if isinstance(v, datetime) else v.isoformat() if isinstance(v, date) else v
            for k, v in row.items()}  # fmt: skip
