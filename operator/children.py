"""Reconcile the pipeline's Strimzi children: KafkaTopics and the lake sink KafkaConnector.

Check-then-act and idempotent: read each child, create it when missing, patch it when its spec or
labels differ, and report readiness from the child's own status (Strimzi writes it).
"""

from __future__ import annotations

from fraudlake.lake.connector import sink_topics
from fraudlake.operator import kube
from fraudlake.operator.builders import (
    Pipeline,
    connector_differs,
    connector_manifest,
    plan_topic,
    topic_manifests,
)
from fraudlake.operator.conditions import condition, strimzi_readiness
from fraudlake.operator.incarnations import Verdict, is_stale, judge
from fraudlake.operator.results import Event, Known, StepResult
from fraudlake.pipeline.status import CONNECTORS_READY, TOPICS_READY


def reconcile_topics(pipeline: Pipeline, known: Known) -> StepResult:
    """Ensure one KafkaTopic per stream; partitions only grow (a shrink is refused, not applied).

    Each topic's incarnation (Kafka's topic id) is recorded in ``status.topicIds``. A topic the
    status lists that is gone, or is back with another id, is a new topic at offset 0: it is not
    recreated or adopted until the accept annotation names the old incarnation
    (`fraudlake.operator.incarnations`); recreating an accepted one is a repair.
    """
    names, waiting_on, refusals, refused, events, repaired = [], [], [], [], [], []
    topic_ids: dict[str, str | None] = {}
    for desired in topic_manifests(pipeline):
        name = desired["metadata"]["name"]
        names.append(name)
        existing = kube.get_strimzi("KafkaTopic", pipeline.kafka_namespace, name)
        recorded = known.topic_ids.get(name, "")
        judgement = judge(name, existing, name in known.topics, recorded, pipeline.accepted_recreations)
        topic_ids[name] = judgement.topic_id or None  # null removes a given-up id from the status
        if judgement.verdict is Verdict.REFUSE:
            refused.append(judgement.message)
            continue
        if judgement.verdict is Verdict.ADOPT:
            events.append(Event("Warning", "TopicRecreationAccepted", judgement.message))
        plan = plan_topic(desired, existing)
        current = existing
        if plan.action == "create":
            current = kube.create_strimzi(plan.manifest)
            verb = "Recreated" if judgement.verdict is Verdict.RECREATE else "Created"
            message = f"{verb} KafkaTopic {pipeline.kafka_namespace}/{name}"
            if judgement.verdict is Verdict.RECREATE:
                message = judgement.message
                repaired.append(f"KafkaTopic {name}")
            events.append(Event("Normal" if verb == "Created" else "Warning", f"Topic{verb}", message))
        elif plan.action == "update":
            current = kube.patch_strimzi(plan.manifest)
            events.append(
                Event("Normal", "TopicUpdated", f"Updated KafkaTopic {pipeline.kafka_namespace}/{name}")
            )
        refusals += plan.refusals
        ready, why = strimzi_readiness(current or {})
        if not ready:
            waiting_on.append(f"{name}: {why}")
    ready_count = len(names) - len(waiting_on) - len(refused)
    status = {"topics": names, "topicsReady": f"{ready_count}/{len(names)}", "topicIds": topic_ids}
    if refused:
        message = "; ".join(refused)
        events.append(Event("Warning", "TopicRecreationRefused", message))
        return StepResult(
            condition(TOPICS_READY, False, "TopicRecreationRefused", message),
            status,
            events,
            repaired,
            permanent=message,
        )
    if refusals:
        message = "; ".join(refusals)
        events.append(Event("Warning", "PartitionShrinkRefused", message))
        return StepResult(
            condition(TOPICS_READY, False, "PartitionShrinkRefused", message),
            status,
            events,
            repaired,
            permanent=message,
        )
    if waiting_on:
        message = f"{ready_count}/{len(names)} topics ready; waiting for " + "; ".join(waiting_on)
        return StepResult(
            condition(TOPICS_READY, False, "TopicsNotReady", message),
            status,
            events,
            repaired,
            waiting=message,
        )
    message = f"{len(names)} KafkaTopics ready in namespace {pipeline.kafka_namespace}"
    return StepResult(condition(TOPICS_READY, True, "TopicsReady", message), status, events, repaired)


def reconcile_connector(pipeline: Pipeline, known: Known) -> StepResult:
    """Ensure the lake sink KafkaConnector exists with the desired config.

    The sink names objects by topic id, so it waits until every sink topic has an accepted one.
    """
    without_id = [
        topic for topic in sink_topics(pipeline.namespace, pipeline.name) if not known.topic_ids.get(topic)
    ]
    if without_id:
        message = "waiting for the Kafka topic id (Strimzi's status.topicId) of " + ", ".join(without_id)
        return StepResult(
            condition(CONNECTORS_READY, False, "TopicIdsNotKnown", message), {}, waiting=message
        )
    # A sink topic gone or recreated under it (refused by the topics step): stop the sink, or it
    # would write the new topic's offset 0 over the old incarnation's objects.
    stale = [
        topic
        for topic in sink_topics(pipeline.namespace, pipeline.name)
        if is_stale(kube.get_strimzi("KafkaTopic", pipeline.kafka_namespace, topic), known.topic_ids[topic])
    ]
    desired = connector_manifest(pipeline, known.topic_ids, stopped=bool(stale))
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    existing = kube.get_strimzi("KafkaConnector", namespace, name)
    events, repaired = [], []
    current = existing
    if existing is None:
        current = kube.create_strimzi(desired)
        verb = "Recreated" if name == known.connector else "Created"
        events.append(Event("Normal", f"Connector{verb}", f"{verb} KafkaConnector {namespace}/{name}"))
        if name == known.connector:
            repaired.append(f"KafkaConnector {name}")
    elif connector_differs(existing, desired):
        current = kube.patch_strimzi(desired)
        events.append(Event("Normal", "ConnectorUpdated", f"Updated KafkaConnector {namespace}/{name}"))
    status = {"connector": name}
    if stale:
        message = (
            f"KafkaConnector {namespace}/{name} stopped: {', '.join(stale)} is not the incarnation the "
            "lake names its objects by (see TopicsReady)"
        )
        return StepResult(
            condition(CONNECTORS_READY, False, "SinkStoppedForTopicRecreation", message),
            status,
            events,
            repaired,
        )
    ready, why = strimzi_readiness(current or {})
    if not ready:
        message = f"waiting for KafkaConnector {namespace}/{name}: {why}"
        return StepResult(
            condition(CONNECTORS_READY, False, "ConnectorNotReady", message),
            status,
            events,
            repaired,
            waiting=message,
        )
    message = f"KafkaConnector {namespace}/{name} is running the S3 Parquet sink"
    return StepResult(condition(CONNECTORS_READY, True, "ConnectorReady", message), status, events, repaired)


def delete_children(pipeline: Pipeline) -> list[str]:
    """Delete the connector, then the topics (found by label); return what still exists afterwards.

    Strimzi's own finalizers may keep a child around while it cleans up; the caller retries until
    nothing is left.
    """
    for kind, namespace in (
        ("KafkaConnector", pipeline.connect_namespace),
        ("KafkaTopic", pipeline.kafka_namespace),
    ):
        for obj in kube.list_strimzi(kind, namespace, pipeline.selector):
            kube.delete_strimzi(kind, namespace, obj["metadata"]["name"])
    return remaining_children(pipeline)


def remaining_children(pipeline: Pipeline) -> list[str]:
    left = []
    for kind, namespace in (
        ("KafkaConnector", pipeline.connect_namespace),
        ("KafkaTopic", pipeline.kafka_namespace),
    ):
        left += [
            f"{kind} {namespace}/{o['metadata']['name']}"
            for o in kube.list_strimzi(kind, namespace, pipeline.selector)
        ]
    return left
