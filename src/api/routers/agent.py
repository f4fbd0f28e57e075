"""POST /v1/agent/chat (the fraud-analyst agent) and POST /v1/sql (the UI's read-only SQL playground).

The agent service is made on the first request to one of these routes, and everything heavy in it
(sqlglot, ClickHouse client, ChromaDB, the embedding model, the LLM client) loads lazily after that
— this module imports none of it — so the scoring routes never wait for it and never import torch.
Both routes read data through the same SQL guard and ``readonly=1`` ClickHouse session, and both are
rate-limited per API key (429 with ``Retry-After``): each chat is a Bedrock bill, the SQL runner is one.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from fraudlake.api.deps import Agent, RateLimit
from fraudlake.api.errors import (
    AgentNotConfiguredError,
    RateLimitedError,
    SqlFailedError,
    SqlRefusedError,
    agent_failures,
    error_responses,
)
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import ChatRequest, ChatResponse, Citations, SqlRequest, SqlResponse
from fraudlake.api.ratelimit import AGENT, SQL

router = APIRouter(tags=["agent"])


@router.post(
    "/v1/agent/chat",
    response_model=ChatResponse,
    responses=error_responses(400, 422, RateLimitedError, AgentNotConfiguredError),
    dependencies=[Depends(RateLimit(AGENT))],
    summary="Ask the fraud-analyst agent; the answer cites its documents and SQL.",
)
async def chat(request: Annotated[ChatRequest, Body()], agent: Agent) -> ChatResponse:
    with agent_failures():
        answer = await agent.chat(request.message, request.session_id)
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
    responses=error_responses(
        400, SqlRefusedError, SqlFailedError, 422, RateLimitedError, AgentNotConfiguredError
    ),
    dependencies=[Depends(RateLimit(SQL))],
    summary="Run one read-only SELECT over the pipeline's tables (guarded, limited, readonly=1).",
)
async def run_sql(request: SqlRequest, agent: Agent) -> SqlResponse:
    with agent_failures():
        result = await asyncio.to_thread(agent.run_sql, request.sql)
    return SqlResponse(
        request_id=current_request_id(),
        sql=result.sql,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
    )
