"""GET /v1/model: the served model version, its thresholds, metrics and training window."""

from __future__ import annotations

from fastapi import APIRouter

from fraudlake.api.deps import Model
from fraudlake.api.errors import ModelNotReadyError, UnauthorizedError, error_responses
from fraudlake.scoring.models import ModelInfo

router = APIRouter(prefix="/v1/model", tags=["model"])


@router.get(
    "",
    response_model=ModelInfo,
    responses=error_responses(UnauthorizedError, ModelNotReadyError),
    summary="The model being served.",
)
async def model_info(model: Model) -> ModelInfo:
    return model.info
