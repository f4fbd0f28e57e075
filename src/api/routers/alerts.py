"""POST /v1/alerts/{alert_id}/notification: a formal customer notification drafted from an alert.

Written by the LLM with the fraud-analyst prompt when Bedrock is configured, otherwise (or when
Bedrock fails) filled into the offline template; either way the facts come from the pipeline's
tables through the guarded read-only SQL, which the response cites. Rate-limited per API key (429 with
`Retry-After`): each draft may be a Bedrock call.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from fraudlake.api.deps import Agent, RateLimit
from fraudlake.api.errors import (
    AgentNotConfiguredError,
    NotFoundError,
    RateLimitedError,
    agent_failures,
    error_responses,
)
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import SESSION_ID, NotificationResponse, SqlSource
from fraudlake.api.ratelimit import NOTIFICATION

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.post(
    "/{alert_id}/notification",
    response_model=NotificationResponse,
    responses=error_responses(NotFoundError, 422, RateLimitedError, AgentNotConfiguredError),
    dependencies=[Depends(RateLimit(NOTIFICATION))],
    summary="Draft the formal customer notification of one alert.",
)
async def notification(
    alert_id: Annotated[str, Path(pattern=SESSION_ID, description="The alert's id.")], agent: Agent
) -> NotificationResponse:
    with agent_failures():
        note = await asyncio.to_thread(agent.notification, alert_id)
    return NotificationResponse(
        request_id=current_request_id(),
        alert_id=note.alert_id,
        subject=note.subject,
        body=note.body,
        offline=note.offline,
        provider=note.provider,
        sql=[SqlSource.model_validate(vars(s)) for s in note.sql],
        notes=note.notes,
    )
