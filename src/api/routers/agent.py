"""POST /v1/agent/chat (the fraud-analyst agent) and POST /v1/sql (the UI's read-only SQL playground).

The agent service is created on the first request to one of these routes, and everything heavy in
it (sqlglot, ClickHouse client, ChromaDB, the embedding model, the LLM client) loads lazily after
that — this module imports none of it — so the scoring routes never wait for it and never import
torch. Both routes read data through the same SQL guard and ``readonly=1`` ClickHouse session.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field

from fraudlake.api.deps import ServicesDep
from fraudlake.api.errors import ApiError, error_responses
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import ErrorBody
from fraudlake.api.services import Services
from fraudlake.scoring.models import TransactionIn

if TYPE_CHECKING:
    from fraudlake.agent.service import AgentService

router = APIRouter(tags=["agent"])

SESSION_ID = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_SQL_CHARS = 8000  # the guard's own limit (fraudlake.agent.sql_guard.MAX_SQL_CHARS)
_LOCK = threading.Lock()


class SqlRefusedError(ApiError):
    status_code, code = 400, "sql_rejected"


class SqlFailedError(ApiError):
    status_code, code = 400, "sql_failed"


class AgentNotConfiguredError(ApiError):
    status_code, code = 503, "agent_unavailable"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


def agent_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """error_responses plus this module's 400 (refused or failed SQL) and 503 (no ClickHouse)."""
    ours = {
        400: {
            "model": ErrorBody,
            "description": "Body not JSON, or the SQL was refused by the guard or failed in ClickHouse.",
        },
        503: {"model": ErrorBody, "description": "The agent is not configured (no ClickHouse DSN)."},
    }
    return error_responses(*(c for c in codes if c not in ours)) | {c: ours[c] for c in codes if c in ours}


# --- request / response models ---------------------------------------------------------------


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description="The analyst's question.")
    session_id: str | None = Field(
        None, pattern=SESSION_ID, description="Continue a conversation; omit to start a new one."
    )


class DocumentSource(BaseModel):
    id: str = Field(
        description="Stable document id, e.g. alert:<id>, merchant:<id>, card:<id>, table:<name>."
    )
    kind: str
    excerpt: str


class SqlSource(BaseModel):
    sql: str = Field(description="The query as executed (qualified, limited).")
    columns: list[str]
    rows: list[list[Any]] = Field(description="The first rows of the result.")
    row_count: int
    truncated: bool = Field(description="The result reached the row limit; more rows may exist.")


class ScoreSource(BaseModel):
    txn_id: str
    score: float
    decision: str
    model_version: str


class Citations(BaseModel):
    documents: list[DocumentSource]
    sql: list[SqlSource]
    scores: list[ScoreSource]


class ChatResponse(BaseModel):
    request_id: str
    session_id: str
    answer: str
    offline: bool = Field(description="True when no language model wrote the answer (offline answerer).")
    provider: str = Field(description="bedrock:<model id> or offline.")
    citations: Citations
    notes: list[str]


class SqlRequest(BaseModel):
    sql: str = Field(
        min_length=1, max_length=MAX_SQL_CHARS, description="One SELECT over the pipeline's tables."
    )


class SqlResponse(BaseModel):
    request_id: str
    sql: str = Field(description="The query as executed (qualified, limited).")
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


# --- the agent service of this process --------------------------------------------------------


async def agent_service(services: ServicesDep) -> Any:
    """The process's AgentService, created on first use with the API's settings, validated at start-up
    (cheap: its parts load later)."""
    from fraudlake.agent.service import AgentService

    with _LOCK:
        agent: AgentService | None = getattr(services, "agent", None)
        if agent is None:
            agent = AgentService(services.settings, scorer=scorer_of(services))
            services.agent = agent  # type: ignore[attr-defined]
    return agent


Agent = Annotated["AgentService", Depends(agent_service)]


def scorer_of(services: Services) -> Any:
    """The agent's score tool: the serving model and online state of this process, when loaded."""

    def score(row: dict[str, Any]) -> dict[str, Any]:
        from fraudlake.scoring.core import score_transactions

        bundle = services.watcher.current if services.watcher else None
        if bundle is None or services.state is None:
            raise LookupError("no model is loaded yet")
        txn = TransactionIn.model_validate({k: v for k, v in row.items() if k in TransactionIn.model_fields})
        result = score_transactions(bundle, services.state, [txn], "all", services.settings.reasons).results[
            0
        ]
        return result.model_dump() | {"model_version": bundle.version}

    return score


# --- routes ----------------------------------------------------------------------------------


@router.post(
    "/v1/agent/chat",
    response_model=ChatResponse,
    responses=agent_responses(400, 401, 422, 503),
    summary="Ask the fraud-analyst agent; the answer cites its documents and SQL.",
)
async def chat(request: Annotated[ChatRequest, Body()], agent: Agent) -> ChatResponse:
    from fraudlake.agent.service import AgentUnavailableError

    try:
        answer = await agent.chat(request.message, request.session_id)
    except AgentUnavailableError as exc:
        raise AgentNotConfiguredError(str(exc)) from None
    return ChatResponse(
        request_id=current_request_id(),
        session_id=answer.session_id,
        answer=answer.answer,
        offline=answer.offline,
        provider=answer.provider,
        citations=Citations.model_validate(answer.citations.as_dict()),
        notes=answer.notes,
    )


@router.post(
    "/v1/sql",
    response_model=SqlResponse,
    responses=agent_responses(400, 401, 422, 503),
    summary="Run one read-only SELECT over the pipeline's tables (guarded, limited, readonly=1).",
)
async def run_sql(request: SqlRequest, agent: Agent) -> SqlResponse:
    from clickhouse_connect.driver.exceptions import DatabaseError

    from fraudlake.agent.service import AgentUnavailableError
    from fraudlake.agent.sql_guard import SqlRejectedError

    try:
        result = await asyncio.to_thread(agent.run_sql, request.sql)
    except SqlRejectedError as exc:
        raise SqlRefusedError(f"query refused: {exc}") from None
    except AgentUnavailableError as exc:
        raise AgentNotConfiguredError(str(exc)) from None
    except DatabaseError as exc:  # ClickHouse's own refusal (unknown column, time or memory limit …)
        raise SqlFailedError(f"query failed: {_first_line(str(exc))}") from None
    return SqlResponse(
        request_id=current_request_id(),
        sql=result.sql,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
    )


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0][:500] if message.strip() else "unknown error"
