"""GET /v1/pipelines[/{namespace}/{name}]: FraudPipeline resources and their status conditions.

Read from the Kubernetes API when FRAUDLAKE_KUBECONFIG is set (`in-cluster` or a kubeconfig file);
otherwise 503 `pipelines_unavailable`, which tells the analyst console to hide its Pipelines tab.
The facts are those of `kubectl get fp` (Topics, Tables, Ready) plus the generations and conditions.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from fraudlake.api.deps import ServicesDep
from fraudlake.api.errors import NotFoundError, error_responses
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import ErrorBody
from fraudlake.api.pipelines import PipelineSource, PipelinesUnavailableError, kube_pipeline_source
from fraudlake.api.services import Services
from fraudlake.pipeline.status import READY

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])

NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_LOCK = threading.Lock()


class PipelineCondition(BaseModel):
    """One status condition, in Strimzi's shape."""

    type: str = Field(description="Ready, TopicsReady, ConnectorsReady, TablesReady or ReconciliationPaused.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field("", description="One CamelCase word.")
    message: str = Field("", description="What happened, for a person.")
    last_transition_time: str = Field("", description="When the status last changed (UTC, RFC 3339).")


PIPELINE_EXAMPLE: dict[str, Any] = {
    "namespace": "fraud",
    "name": "cards",
    "created": "2026-11-30T09:12:44Z",
    "ready": False,
    "reason": "ConnectorNotRunning",
    "topics_ready": "4/4",
    "tables_ready": "13/13",
    "generation": 3,
    "observed_generation": 3,
    "up_to_date": True,
    "topics": ["fraudlake.fraud.cards.transactions", "fraudlake.fraud.cards.alerts"],
    "connector": "fraudlake-fraud-cards-lake",
    "database": "fraudlake",
    "tables": ["transactions", "alerts", "predictions"],
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "ConnectorNotRunning",
            "message": "KafkaConnector fraudlake-fraud-cards-lake: task 0 FAILED",
            "last_transition_time": "2026-12-01T10:02:13Z",
        },
        {
            "type": "TopicsReady",
            "status": "True",
            "reason": "TopicsReady",
            "message": "4/4 topics ready",
            "last_transition_time": "2026-11-30T09:13:02Z",
        },
    ],
}


class Pipeline(BaseModel):
    """A FraudPipeline as `kubectl get fp` shows it, with its generations and conditions."""

    model_config = ConfigDict(json_schema_extra={"examples": [PIPELINE_EXAMPLE]})

    namespace: str
    name: str
    created: str = Field(description="metadata.creationTimestamp.")
    ready: bool = Field(description="The Ready condition is True (kubectl's READY column).")
    reason: str = Field(description="The Ready condition's reason; empty before the first reconcile.")
    topics_ready: str = Field(description="Ready topics / topics, e.g. 4/4 (kubectl's TOPICS column).")
    tables_ready: str = Field(description="Tables present / expected, e.g. 13/13 (kubectl's TABLES column).")
    generation: int | None = Field(description="metadata.generation: bumped by every spec change.")
    observed_generation: int | None = Field(description="The generation the operator last reconciled.")
    up_to_date: bool = Field(description="The operator has reconciled the latest spec.")
    topics: list[str] = Field(description="KafkaTopic names.")
    connector: str = Field(description="KafkaConnector name of the lake sink.")
    database: str = Field(description="ClickHouse database.")
    tables: list[str] = Field(description="ClickHouse tables and views present.")
    conditions: list[PipelineCondition]


class PipelineList(BaseModel):
    request_id: str
    namespace: str | None = Field(description="The namespace read; null for all namespaces.")
    items: list[Pipeline] = Field(description="Sorted by namespace, then name.")


def pipeline_view(obj: dict[str, Any]) -> Pipeline:
    """The public view of a FraudPipeline object (missing status fields read as empty)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    conditions = [
        PipelineCondition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            last_transition_time=str(c.get("lastTransitionTime", "")),
        )
        for c in status.get("conditions") or []
    ]
    ready = next((c for c in conditions if c.type == READY), None)
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    return Pipeline(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        created=str(meta.get("creationTimestamp", "")),
        ready=ready is not None and ready.status == "True",
        reason=ready.reason if ready else "",
        topics_ready=str(status.get("topicsReady", "")),
        tables_ready=str(status.get("tablesReady", "")),
        generation=generation,
        observed_generation=observed,
        up_to_date=observed is not None and observed == generation,
        topics=[str(t) for t in status.get("topics") or []],
        connector=str(status.get("connector", "")),
        database=str(status.get("database", "")),
        tables=[str(t) for t in status.get("tables") or []],
        conditions=conditions,
    )


async def pipeline_source(services: ServicesDep) -> PipelineSource:
    """The process's source, created on first use (importing `kubernetes` takes a moment: off the loop)."""
    kubeconfig = services.settings.kubeconfig
    if kubeconfig is None:
        raise PipelinesUnavailableError(
            "this API does not read FraudPipelines: set FRAUDLAKE_KUBECONFIG to `in-cluster` "
            "or a kubeconfig file"
        )
    source = services.pipelines
    if source is None:
        made = await asyncio.to_thread(kube_pipeline_source, kubeconfig)
        with _LOCK:
            source = services.pipelines = services.pipelines or made
    return source


Pipelines = Annotated[PipelineSource, Depends(pipeline_source)]


def readable_namespace(services: Services, requested: str | None) -> str | None:
    """The namespace to read: the requested one, within FRAUDLAKE_PIPELINES_NAMESPACE when that is set."""
    allowed = services.settings.pipelines_namespace
    if allowed and requested not in (None, allowed):
        raise NotFoundError(f"this API reads the FraudPipelines of namespace {allowed} only")
    return requested or allowed


def pipeline_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """error_responses plus the Kubernetes API's 502 and 503."""
    ours = {
        502: {"model": ErrorBody, "description": "The Kubernetes API refused or failed (CRD missing, RBAC)."},
        503: {"model": ErrorBody, "description": "FRAUDLAKE_KUBECONFIG unset, or Kubernetes unreachable."},
    }
    return error_responses(*(c for c in codes if c not in ours)) | {c: ours[c] for c in codes if c in ours}


@router.get(
    "",
    response_model=PipelineList,
    responses=pipeline_responses(401, 404, 422, 502, 503),
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
    responses=pipeline_responses(401, 404, 422, 502, 503),
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
