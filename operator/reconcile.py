"""The work behind the handlers: run reconcile steps, write status, post Events, decide on retries.

Handlers call `converge(...)` for the steps a change touches and hand the outcome to `publish(...)`,
which merges conditions into the status patch, posts Events, and raises `kopf.TemporaryError`
while a dependency is on its way (Strimzi not done yet, Secret not created yet, ClickHouse down) or
`kopf.PermanentError` for a spec the operator will not apply (a partition shrink).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from fraudlake.operator import conditions, metrics
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.children import delete_children, reconcile_connector, reconcile_topics
from fraudlake.operator.incarnations import accepted_tokens
from fraudlake.operator.results import Event, Known, StepResult
from fraudlake.operator.scorer import delete_scorer, reconcile_scorer
from fraudlake.operator.source_children import reconcile_sources
from fraudlake.operator.tables import (
    ClickHouseUnavailableError,
    DatabaseNotOwnedError,
    drop_pipeline_database,
    reconcile_tables,
)
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.pipeline.status import PAUSED

Step = Callable[[Pipeline, Known], StepResult]
TOPICS: tuple[Step, ...] = (reconcile_topics,)
CONNECTOR: tuple[Step, ...] = (reconcile_connector,)
TABLES: tuple[Step, ...] = (reconcile_tables,)
SCORER: tuple[Step, ...] = (reconcile_scorer,)
SOURCES: tuple[Step, ...] = (reconcile_sources,)
ALL_STEPS: tuple[Step, ...] = (*TOPICS, *CONNECTOR, *SOURCES, *TABLES, *SCORER)


@dataclass
class Outcome:
    """The results of the steps that ran, in order."""

    results: list[StepResult] = field(default_factory=list)

    @property
    def events(self) -> list[Event]:
        return [event for result in self.results for event in result.events]

    @property
    def repaired(self) -> list[str]:
        return [item for result in self.results for item in result.repaired]

    @property
    def waiting(self) -> list[str]:
        return [result.waiting for result in self.results if result.waiting]

    @property
    def permanent(self) -> list[str]:
        return [result.permanent for result in self.results if result.permanent]


def pipeline_from(body: Mapping[str, Any]) -> Pipeline:
    """The Pipeline of a FraudPipeline body; kopf.PermanentError if its spec does not parse."""
    meta = body["metadata"]
    try:
        spec = FraudPipelineSpec.parse(body.get("spec") or {})
    except ValidationError as exc:
        raise kopf.PermanentError(
            f"invalid spec: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from exc
    return Pipeline(
        meta["namespace"],
        meta["name"],
        int(meta.get("generation") or 0),
        spec,
        str(meta.get("uid") or ""),
        accepted_recreations=accepted_tokens(meta),
    )


def is_paused(meta: Mapping[str, Any]) -> bool:
    annotations = meta.get("annotations") or {}
    return str(annotations.get(naming.PAUSE_ANNOTATION, "")).lower() == "true"


def converge(
    pipeline: Pipeline, status: Mapping[str, Any] | None, steps: Iterable[Step] = ALL_STEPS
) -> Outcome:
    """Run `steps` (each idempotent) and collect their results; `status` says which children existed.

    Each step sees what the steps before it recorded (the connector is configured with the topic
    ids the topics step just accepted).
    """
    current = dict(status or {})
    results = []
    for step in steps:
        result = _run_step(step, pipeline, Known.from_status(current))
        results.append(result)
        current.update(result.status)
    return Outcome(results)


def _run_step(step: Step, pipeline: Pipeline, known: Known) -> StepResult:
    with metrics.timed_step(step):
        return step(pipeline, known)


def status_patch(
    previous: Mapping[str, Any] | None, outcome: Outcome, generation: int | None, drift_check: bool = False
) -> dict[str, Any]:
    """The status fields to merge-patch: step fields, merged conditions, Ready, observedGeneration."""
    at = conditions.now()
    previous = previous or {}
    merged = conditions.merge(previous.get("conditions"), [r.condition for r in outcome.results], at)
    merged = conditions.merge(merged, [conditions.ready_from_parts(merged)], at)
    patch: dict[str, Any] = {"conditions": merged}
    for result in outcome.results:
        patch.update(result.status)
    if generation is not None:
        patch["observedGeneration"] = generation
    # A repair stays on record until the next one; a timer check without repairs only moves lastCheckTime.
    drift: dict[str, Any] = {"lastCheckTime": at} if drift_check else {}
    if outcome.repaired:
        drift |= {"lastRepairTime": at, "repaired": outcome.repaired}
    if drift:
        patch["drift"] = drift
    return patch


def publish(
    outcome: Outcome,
    body: kopf.Body,
    patch: kopf.Patch,
    status: Mapping[str, Any],
    generation: int | None,
    retry: float,
    raise_errors: bool = True,
    drift_check: bool = False,
) -> None:
    """Write the outcome into the status patch and Events; raise for kopf to retry or give up.

    `raise_errors` False (the drift timer) records the outcome without raising: the next tick retries.
    """
    patch.status.update(status_patch(status, outcome, generation, drift_check))
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    if outcome.repaired:
        kopf.event(body, type="Warning", reason="DriftRepaired", message="; ".join(outcome.repaired))
    if not raise_errors:
        return
    if outcome.permanent:
        raise kopf.PermanentError("; ".join(outcome.permanent))
    if outcome.waiting:
        raise kopf.TemporaryError("waiting: " + "; ".join(outcome.waiting), delay=retry)


def pause_status(previous: Mapping[str, Any] | None, paused: bool) -> dict[str, Any]:
    """Conditions with ReconciliationPaused set (paused) or removed (resumed)."""
    previous = previous or {}
    at = conditions.now()
    if paused:
        message = f"annotation {naming.PAUSE_ANNOTATION}=true: changes are not applied until it is removed"
        update = [conditions.condition(PAUSED, True, "ReconciliationPaused", message)]
        return {"conditions": conditions.merge(previous.get("conditions"), update, at)}
    return {"conditions": conditions.merge(previous.get("conditions"), [], at, remove=[PAUSED])}


def delete_pipeline(pipeline: Pipeline, body: kopf.Body, retry: float) -> None:
    """Stop the scorer, then honour deletionPolicy: Retain leaves children and tables; Delete removes
    them, retrying until the children are gone, then drops the database if this pipeline owns it
    (another pipeline's database, or one without a recorded owner, is kept with a Warning Event).

    The scorer goes whatever the policy: it holds no data of its own (its state lives in Kafka
    changelog topics), and a scorer without its pipeline would go on deciding an orphaned topic.
    """
    database = pipeline.spec.clickhouse.database
    stopped = delete_scorer(pipeline)
    if stopped:
        kopf.event(body, type="Normal", reason="ScorerRemoved", message="Removed " + ", ".join(stopped))
    if pipeline.spec.deletion_policy == "Retain":
        message = f"deletionPolicy Retain: kept topics, connector and database {database}"
        kopf.event(body, type="Normal", reason="Retained", message=message)
        return
    left = delete_children(pipeline)
    if left:
        raise kopf.TemporaryError(f"waiting for deletion of {', '.join(left)}", delay=retry)
    try:
        drop_pipeline_database(pipeline)
    except ClickHouseUnavailableError as exc:
        raise kopf.TemporaryError(f"cannot drop the ClickHouse database yet: {exc}", delay=retry) from exc
    except (LookupError, DatabaseNotOwnedError) as exc:  # no DSN Secret, or another pipeline's database
        kopf.event(body, type="Warning", reason="DatabaseNotDropped", message=str(exc))
        kopf.event(body, type="Normal", reason="Deleted", message="deleted topics and connector")
        return
    kopf.event(
        body, type="Normal", reason="Deleted", message=f"deleted topics, connector and database {database}"
    )
