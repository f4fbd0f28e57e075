"""Reconcile the pipeline's change-data-capture sources (spec.sources) against Strimzi: the compacted
topic of every captured table first, then one Debezium KafkaConnector per source; connectors of sources
removed from the spec are deleted (their topics stay, like any topic of a Retain pipeline).

Reported as condition SourcesReady (not a part of Ready: a pipeline scores transactions whether or not
its reference data is captured; the scorer falls back to what it last knew). A connector whose task
failed, e.g. on a schema change Debezium cannot follow, is SourcesReady False / SourceConnectorFailed
with the first line of the task's error, until the connector runs again (Strimzi's autoRestart retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraudlake.operator import kube
from fraudlake.operator.builders import Pipeline, connector_differs, plan_topic
from fraudlake.operator.conditions import condition, strimzi_readiness
from fraudlake.operator.results import Event, Known, StepResult
from fraudlake.operator.sources import (
    POSTGRES_CONNECTOR_CLASS,
    source_connector_manifest,
    source_topic_manifests,
)

SOURCES_READY = "SourcesReady"


def failed_task_error(connector: Mapping[str, Any]) -> str | None:
    """The first line of the error of a KafkaConnector's failed connector or task (Strimzi's
    status.connectorStatus), None while nothing failed."""
    state = (connector.get("status") or {}).get("connectorStatus") or {}
    failed = [t for t in state.get("tasks") or () if t.get("state") == "FAILED"]
    if (state.get("connector") or {}).get("state") == "FAILED":
        failed.append(state["connector"])
    if not failed:
        return None
    trace = str(failed[0].get("trace") or "").strip()
    return trace.splitlines()[0] if trace else "failed without an error message"


def reconcile_sources(pipeline: Pipeline, known: Known) -> StepResult:
    """Ensure the CDC topics and Debezium KafkaConnectors exist as the spec says; delete the connectors of
    removed sources."""
    events: list[Event] = []
    waiting: list[str] = []
    for desired in source_topic_manifests(pipeline):
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        existing = kube.get_strimzi("KafkaTopic", namespace, name)
        plan = plan_topic(desired, existing)
        current = existing
        if plan.action == "create":
            current = kube.create_strimzi(plan.manifest)
            events.append(Event("Normal", "TopicCreated", f"Created KafkaTopic {namespace}/{name}"))
        elif plan.action == "update":
            current = kube.patch_strimzi(plan.manifest)
            events.append(Event("Normal", "TopicUpdated", f"Updated KafkaTopic {namespace}/{name}"))
        ready, why = strimzi_readiness(current or {})
        if not ready:
            waiting.append(f"topic {name}: {why}")
    failures: list[str] = []
    names: list[str] = []
    for source in pipeline.spec.sources:
        desired = source_connector_manifest(pipeline, source)
        namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
        names.append(name)
        existing = kube.get_strimzi("KafkaConnector", namespace, name)
        current = existing
        if existing is None:
            current = kube.create_strimzi(desired)
            events.append(Event("Normal", "ConnectorCreated", f"Created KafkaConnector {namespace}/{name}"))
        elif connector_differs(existing, desired):
            current = kube.patch_strimzi(desired)
            events.append(Event("Normal", "ConnectorUpdated", f"Updated KafkaConnector {namespace}/{name}"))
        error = failed_task_error(current or {})
        if error is not None:
            failures.append(f"{name}: {error}")
            continue
        ready, why = strimzi_readiness(current or {})
        if not ready:
            waiting.append(f"connector {name}: {why}")
    events += _delete_removed_sources(pipeline, set(names))
    status = {"sources": names}
    if failures:
        message = "Debezium connector failed: " + "; ".join(failures)
        events.append(Event("Warning", "SourceConnectorFailed", message))
        return StepResult(condition(SOURCES_READY, False, "SourceConnectorFailed", message), status, events)
    if waiting:
        message = "waiting for " + "; ".join(waiting)
        return StepResult(
            condition(SOURCES_READY, False, "SourcesNotReady", message), status, events, waiting=message
        )
    if not names:
        return StepResult(
            condition(SOURCES_READY, True, "NoSources", "spec.sources is empty"), status, events
        )
    message = (
        f"{len(names)} Debezium KafkaConnector(s) streaming changes in namespace {pipeline.connect_namespace}"
    )
    return StepResult(condition(SOURCES_READY, True, "SourcesReady", message), status, events)


def _delete_removed_sources(pipeline: Pipeline, wanted: set[str]) -> list[Event]:
    events = []
    for obj in kube.list_strimzi("KafkaConnector", pipeline.connect_namespace, pipeline.selector):
        name = obj["metadata"]["name"]
        if (obj.get("spec") or {}).get("class") == POSTGRES_CONNECTOR_CLASS and name not in wanted:
            kube.delete_strimzi("KafkaConnector", pipeline.connect_namespace, name)
            events.append(
                Event(
                    "Normal", "ConnectorDeleted", f"Deleted KafkaConnector {name}: its source left the spec"
                )
            )
    return events
