"""POST /v1/alerts/{alert_id}/notification: a formal customer notification drafted from an alert.

Written by the LLM with the fraud-analyst prompt when Bedrock is configured, otherwise (or when
Bedrock fails) filled into the offline template; either way the facts come from the pipeline's
tables through the guarded read-only SQL, which the response cites.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from fraudlake.api.errors import NotFoundError
from fraudlake.api.logs import current_request_id
from fraudlake.api.routers.agent import SESSION_ID, Agent, AgentNotConfiguredError, SqlSource, agent_responses

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


class NotificationResponse(BaseModel):
    request_id: str
    alert_id: str
    subject: str
    body: str
    offline: bool = Field(description="True when the offline template was used instead of the LLM.")
    provider: str = Field(description="bedrock:<model id> or offline.")
    sql: list[SqlSource] = Field(description="The queries that read the alert's facts.")
    notes: list[str]


@router.post(
    "/{alert_id}/notification",
    response_model=NotificationResponse,
    responses=agent_responses(401, 404, 422, 503),
    summary="Draft the formal customer notification of one alert.",
)
async def notification(
    alert_id: Annotated[str, Path(pattern=SESSION_ID, description="The alert's id.")], agent: Agent
) -> NotificationResponse:
    from fraudlake.agent.notification import AlertNotFoundError
    from fraudlake.agent.service import AgentUnavailableError

    try:
        note = await asyncio.to_thread(agent.notification, alert_id)
    except AlertNotFoundError as exc:
        raise NotFoundError(str(exc)) from None
    except AgentUnavailableError as exc:
        raise AgentNotConfiguredError(str(exc)) from None
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
