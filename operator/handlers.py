"""FraudPipeline handlers: the table of contents of the operator.

Each handler makes one call into `fraudlake.operator.reconcile`; the work lives there and in the
pure builders. Run with ``fraudlake operator run`` (or ``kopf run -m fraudlake.operator.handlers``).

- create / resume: reconcile everything (topics, lake sink connector, ClickHouse tables, scorer);
- field changes: spec.kafka → topics, spec.lake → connector, spec.sources → Debezium connectors and their
  compacted topics (condition SourcesReady), spec.clickhouse / spec.rules → tables;
  spec.scoring, and the parts of spec.kafka / .clickhouse / .rules the scorer is given → scorer;
- any update: record observedGeneration;
- pause annotation ``fraudlake.io/pause-reconciliation: "true"``: stop applying changes
  (condition ReconciliationPaused); removing it reconciles everything that changed meanwhile;
- topic recreation (a KafkaTopic the status lists is gone, or back with another topic id): refused
  with an Event and condition TopicsReady False / TopicRecreationRefused until the annotation
  ``fraudlake.io/accept-topic-recreation`` names the old incarnation; setting it reconciles everything;
- delete (finalizer ``fraudlake.io/finalizer``): the scorer stops; deletionPolicy Retain keeps the other
  children, Delete removes them (the ClickHouse database only if this pipeline owns it);
- drift timer: recreate deleted children, re-apply missing tables, record the check in status.drift
  (any handler that recreates a child the status listed records it there too);
- model health timer: condition ModelHealthy from the latest drift report of the ``model_drift`` DAG
  (False names the drifting features), and SourcesLoaded from the scorer's CDC loader state
  (``source_health``; False names the change ClickHouse cannot follow).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf

from fraudlake.operator import kube, metrics, model_health, reconcile, source_health
from fraudlake.operator.reconcile import ALL_STEPS, CONNECTOR, SCORER, SOURCES, TABLES, TOPICS, Step
from fraudlake.operator.settings import operator_settings
from fraudlake.pipeline import naming

SETTINGS = operator_settings()
RESOURCE = (naming.GROUP, naming.VERSION, naming.PLURAL)
# Kopf's own bookkeeping annotations get a prefix apart from ours: kopf leaves every annotation
# under its storage prefix out of the diff, and the pause annotation must trigger handlers.
KOPF_STORAGE_PREFIX = "kopf.fraudlake.io"


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    kube.configure()
    return kube.connection_info(trust_env=settings.networking.trust_env)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = naming.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_STORAGE_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_STORAGE_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our Events are explicit; kopf adds only its warnings
    settings.networking.request_timeout = SETTINGS.request_timeout_seconds
    settings.watching.server_timeout = 270


@kopf.on.startup()
def serve_metrics(**_: Any) -> None:
    metrics.serve(SETTINGS.metrics_port)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@metrics.observed
def reconcile_pipeline(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    _reconcile(ALL_STEPS, body, status, patch, memo)


@kopf.on.field(*RESOURCE, field="spec.kafka", old=kopf.PRESENT)
@metrics.observed
def update_topics(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    # The scorer's Kafka bootstrap comes from spec.kafka.
    _reconcile((*TOPICS, *SCORER), body, status, patch, memo)


@kopf.on.field(*RESOURCE, field="spec.lake", old=kopf.PRESENT)
@metrics.observed
def update_connector(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    _reconcile(CONNECTOR, body, status, patch, memo)


@kopf.on.field(*RESOURCE, field="spec.sources", old=kopf.PRESENT)
@metrics.observed
def update_sources(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    _reconcile(SOURCES, body, status, patch, memo)


@kopf.on.field(*RESOURCE, field="spec.clickhouse", old=kopf.PRESENT)
@kopf.on.field(*RESOURCE, field="spec.rules", old=kopf.PRESENT)
@metrics.observed
def update_tables(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    # The scorer is given the rules and the ClickHouse Secret and database too.
    _reconcile((*TABLES, *SCORER), body, status, patch, memo)


@kopf.on.field(*RESOURCE, field="spec.scoring", old=kopf.PRESENT)
@metrics.observed
def update_scorer(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    _reconcile(SCORER, body, status, patch, memo)


@kopf.on.update(*RESOURCE)
@metrics.observed
def record_generation(meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    if not reconcile.is_paused(meta):
        patch.status["observedGeneration"] = meta.get("generation")


@kopf.on.field(*RESOURCE, field=("metadata", "annotations", naming.PAUSE_ANNOTATION))
@metrics.observed
def pause_or_resume(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    if reconcile.is_paused(body["metadata"]):
        patch.status.update(reconcile.pause_status(status, paused=True))
        return
    patch.status.update(reconcile.pause_status(status, paused=False))
    _reconcile(ALL_STEPS, body, {**status, **patch.status}, patch, memo)


@kopf.on.field(*RESOURCE, field=("metadata", "annotations", naming.ACCEPT_TOPIC_RECREATION_ANNOTATION))
@metrics.observed
def accept_topic_recreation(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    _reconcile(ALL_STEPS, body, status, patch, memo)


@kopf.on.delete(*RESOURCE)
@metrics.observed_deletion
def delete_pipeline(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    with _lock(memo):
        reconcile.delete_pipeline(reconcile.pipeline_from(body), body, SETTINGS.retry_delay_seconds)


@kopf.timer(
    *RESOURCE, interval=SETTINGS.drift_interval_seconds, initial_delay=SETTINGS.drift_interval_seconds
)
@metrics.observed
def check_drift(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    with _lock(memo):
        if not _drift_check_due(body, status):
            return
        outcome = reconcile.converge(reconcile.pipeline_from(body), status)
        reconcile.publish(
            outcome,
            body,
            patch,
            status,
            None,
            SETTINGS.retry_delay_seconds,
            raise_errors=False,
            drift_check=True,
        )


@kopf.timer(
    *RESOURCE,
    interval=SETTINGS.model_health_interval_seconds,
    initial_delay=SETTINGS.model_health_interval_seconds,
)
@metrics.observed
def check_model_health(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    if body.meta.get("deletionTimestamp"):
        return
    with _lock(memo):
        pipeline = reconcile.pipeline_from(body)
        updated = model_health.check(pipeline, status)
        # SourcesLoaded comes from the same database on the same beat, applied over ModelHealthy's change.
        current = status if updated is None else {"conditions": updated}
        updated = source_health.check(pipeline, current) or updated
        if updated is not None:
            patch.status["conditions"] = updated


def _drift_check_due(body: kopf.Body, status: kopf.Status) -> bool:
    # Not while deleting (the delete handler decides about children), not while paused, and not
    # before the handlers have recorded the current generation (they own a new spec until then).
    return not (
        body.meta.get("deletionTimestamp")
        or reconcile.is_paused(body["metadata"])
        or status.get("observedGeneration") != body.meta.get("generation")
    )


def _reconcile(
    steps: tuple[Step, ...], body: kopf.Body, status: Any, patch: kopf.Patch, memo: kopf.Memo
) -> None:
    if reconcile.is_paused(body["metadata"]):
        patch.status.update(reconcile.pause_status(status, paused=True))
        return
    with _lock(memo):
        pipeline = reconcile.pipeline_from(body)
        outcome = reconcile.converge(pipeline, status, steps)
        reconcile.publish(outcome, body, patch, status, pipeline.generation, SETTINGS.retry_delay_seconds)


def _lock(memo: kopf.Memo) -> threading.Lock:
    # One pipeline at a time: the drift timer must not race a handler applying a newer spec.
    return memo.setdefault("reconcile_lock", threading.Lock())
