"""FraudPipeline custom resources read from the Kubernetes API, and their public view, for GET /v1/pipelines.

The `kubernetes` package is imported on first use only (the scoring path never needs it). Every
failure of the Kubernetes API becomes one of the API's typed errors with a sentence to act on:
not configured (503 `pipelines_unavailable`), unreachable (503 `kubernetes_unreachable`), refused or
failing, CRD missing included (502 `kubernetes_error`); a pipeline that does not exist is `None`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from fraudlake.api.errors import (
    ApiError,
    KubernetesError,
    KubernetesUnreachableError,
    PipelinesUnavailableError,
)
from fraudlake.api.models import Pipeline, PipelineCondition
from fraudlake.api.settings import IN_CLUSTER
from fraudlake.pipeline import naming
from fraudlake.pipeline.status import READY

CRD_NAME = f"{naming.PLURAL}.{naming.GROUP}"
# (connect, read) seconds: a stuck API server must not hold a request (or the UI) for long.
REQUEST_TIMEOUT = (3.0, 10.0)


class PipelineSource(Protocol):
    """Where FraudPipeline objects come from (the Kubernetes API; a fake in unit tests)."""

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        """The objects of one namespace, or of all namespaces when `namespace` is None."""
        ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, or None when there is no such pipeline."""
        ...


class KubePipelineSource:
    """FraudPipelines through the Kubernetes API's custom-objects endpoints (blocking calls)."""

    def __init__(self, custom_api: Any, server: str):
        self._api, self.server = custom_api, server

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        try:
            if namespace:
                found = self._api.list_namespaced_custom_object(
                    naming.GROUP, naming.VERSION, namespace, naming.PLURAL, _request_timeout=REQUEST_TIMEOUT
                )
            else:
                found = self._api.list_cluster_custom_object(
                    naming.GROUP, naming.VERSION, naming.PLURAL, _request_timeout=REQUEST_TIMEOUT
                )
        except Exception as exc:
            raise kubernetes_error(exc, f"listing FraudPipelines {where}", self.server) from None
        return list(found.get("items") or [])

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._api.get_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception as exc:
            if _object_missing(exc):
                return None
            raise kubernetes_error(exc, f"reading FraudPipeline {namespace}/{name}", self.server) from None
        return found


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


def kube_pipeline_source(kubeconfig: str) -> KubePipelineSource:
    """A source over the cluster that `kubeconfig` (a file, or `in-cluster`) points at."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if kubeconfig == IN_CLUSTER:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except Exception as exc:  # ConfigException, a malformed file, an unreadable token …
        raise PipelinesUnavailableError(
            f"cannot load the Kubernetes credentials of FRAUDLAKE_KUBECONFIG={kubeconfig}: {exc}"
        ) from None
    configuration.retries = 1  # one retry covers a stale keep-alive connection; more only adds waiting
    return KubePipelineSource(client.CustomObjectsApi(client.ApiClient(configuration)), configuration.host)


def kubernetes_error(exc: Exception, doing: str, server: str) -> ApiError:
    """The API error that tells a person what went wrong while `doing` something, and what to do."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        said = f"{exc.status} {exc.reason}: {_status_message(exc)}"
        if exc.status in (401, 403):
            return KubernetesError(
                f"the Kubernetes API at {server} refused {doing} ({said}); the API's credentials need "
                f"get and list on {CRD_NAME}"
            )
        if exc.status == 404:
            return KubernetesError(
                f"the Kubernetes API at {server} does not serve {CRD_NAME}: install the FraudPipeline "
                "CRD (operator/crd/fraudpipeline.yaml or the Helm chart)"
            )
        return KubernetesError(f"the Kubernetes API at {server} failed {doing} ({said})")
    if isinstance(exc, (HTTPError, OSError)):
        return KubernetesUnreachableError(
            f"cannot reach the Kubernetes API at {server} ({doing}): {_cause(exc)}"
        )
    raise exc


def _status(exc: Any) -> dict[str, Any]:
    """The Status object in an ApiException's body; {} for other bodies (e.g. `404 page not found`)."""
    try:
        status = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def _status_message(exc: Any) -> str:
    """The `message` of the Status object the API server sent, else the raw body (shortened)."""
    return str(_status(exc).get("message") or str(exc.body or "").strip()[:300] or "no details")


def _object_missing(exc: Exception) -> bool:
    """A 404 about the object itself (its Status names it), not about the resource type being unknown."""
    from kubernetes.client.exceptions import ApiException

    if not isinstance(exc, ApiException) or exc.status != 404:
        return False
    return bool((_status(exc).get("details") or {}).get("name"))


def _cause(exc: Exception) -> str:
    """urllib3's innermost reason, e.g. `[Errno 111] Connection refused` or `Read timed out.`"""
    reason: Any = exc
    while getattr(reason, "reason", None) is not None and reason.reason is not reason:
        reason = reason.reason
    text = str(reason)
    return text[text.index("[Errno") :].rstrip("')\"") if "[Errno" in text else text[-200:]
