"""GET /v1/pipelines[/{namespace}/{name}]: FraudPipeline resources and their status conditions.

Read from the Kubernetes API when FRAUDLAKE_KUBECONFIG is set (`in-cluster` or a kubeconfig file);
otherwise 503 `pipelines_unavailable`, which tells the analyst console to hide its Pipelines tab.
The facts are those of `kubectl get fp` (Topics, Tables, Ready) plus the generations and conditions.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from fraudlake.api.deps import Pipelines, ServicesDep
from fraudlake.api.errors import (
    KubernetesError,
    KubernetesUnreachableError,
    NotFoundError,
    PipelinesUnavailableError,
    error_responses,
)
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import NAME, NAMESPACE, Pipeline, PipelineList
from fraudlake.api.pipelines import pipeline_view
from fraudlake.api.runtime import Services

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])
_ERRORS = error_responses(
    NotFoundError, 422, KubernetesError, PipelinesUnavailableError, KubernetesUnreachableError
)


def readable_namespace(services: Services, requested: str | None) -> str | None:
    """The namespace to read: the requested one, within FRAUDLAKE_PIPELINES_NAMESPACE when that is set."""
    allowed = services.settings.pipelines_namespace
    if allowed and requested not in (None, allowed):
        raise NotFoundError(f"this API reads the FraudPipelines of namespace {allowed} only")
    return requested or allowed


@router.get(
    "",
    response_model=PipelineList,
    responses=_ERRORS,
    summary="FraudPipeline resources with their Ready state, generations and conditions.",
)
async def list_pipelines(
    source: Pipelines,
    services: ServicesDep,
    namespace: Annotated[
        str | None, Query(pattern=NAMESPACE, description="Only this namespace; omit for all.")
    ] = None,
) -> PipelineList:
    where = readable_namespace(services, namespace)
    objects = await asyncio.to_thread(source.list, where)
    items = sorted((pipeline_view(o) for o in objects), key=lambda p: (p.namespace, p.name))
    return PipelineList(request_id=current_request_id(), namespace=where, items=items)


@router.get(
    "/{namespace}/{name}",
    response_model=Pipeline,
    responses=_ERRORS,
    summary="One FraudPipeline with its Ready state, generations and conditions.",
)
async def get_pipeline(
    source: Pipelines,
    services: ServicesDep,
    namespace: Annotated[str, Path(pattern=NAMESPACE)],
    name: Annotated[str, Path(pattern=NAME)],
) -> Pipeline:
    readable_namespace(services, namespace)
    found = await asyncio.to_thread(source.get, namespace, name)
    if found is None:
        raise NotFoundError(f"no FraudPipeline {name} in namespace {namespace}")
    return pipeline_view(found)
