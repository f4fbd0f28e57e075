"""Reconcile the pipeline's stream scorer: a ServiceAccount, a PodDisruptionBudget and a Deployment.

Check-then-act like the Strimzi children: read each object, create it when missing, replace it when the
hash of its manifest (or a label, or the replica count) differs; `spec.scoring.replicas: 0` removes
all three. Readiness comes from the Deployment's own status (available pods of its current
generation), written by the Deployment controller.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from fraudlake.operator import kube
from fraudlake.operator.builders import (
    Pipeline,
    deployment_readiness,
    scorer_child_differs,
    scorer_manifests,
    scorer_name,
)
from fraudlake.operator.conditions import condition
from fraudlake.operator.results import Event, Known, StepResult
from fraudlake.operator.settings import operator_settings
from fraudlake.pipeline import naming
from fraudlake.pipeline.status import SCORING_READY

# Deleted in this order: the pods stop before their budget and identity go.
SCORER_KINDS = ("Deployment", "PodDisruptionBudget", "ServiceAccount")


def reconcile_scorer(pipeline: Pipeline, known: Known) -> StepResult:
    """Ensure the scorer runs with `spec.scoring.replicas` pods, or is gone when that is 0.

    A missing Deployment that `known` lists was deleted behind our back: recreating it is a repair.
    """
    replicas = pipeline.spec.scoring.replicas
    if replicas == 0:
        removed = delete_scorer(pipeline)
        events = [Event("Normal", "ScorerRemoved", "Removed " + ", ".join(removed))] if removed else []
        message = "spec.scoring.replicas is 0: the scorer is off"
        return StepResult(
            condition(SCORING_READY, True, "ScorerOff", message),
            {"scorer": "", "scoringReady": "off"},
            events,
        )
    name = scorer_name(pipeline)
    events, repaired, refusals = [], [], []
    deployment: dict[str, Any] | None = None
    rejections = []
    for desired in scorer_manifests(pipeline, operator_settings()):
        kind, where = desired["kind"], f"{pipeline.namespace}/{name}"
        current = kube.get_native(kind, pipeline.namespace, name)
        try:
            if current is None:
                current = kube.create_native(desired)
                verb = "Recreated" if kind == "Deployment" and name == known.scorer else "Created"
                events.append(Event("Normal", f"Scorer{verb}", f"{verb} {kind} {where}"))
                if verb == "Recreated":
                    repaired.append(f"Deployment {name}")
            elif naming.owner_of((current.get("metadata") or {}).get("labels")) != (
                pipeline.namespace,
                pipeline.name,
            ):
                refusals.append(
                    f"{kind} {where} exists and is not this pipeline's scorer; rename or remove it"
                )
                continue
            elif scorer_child_differs(current, desired):
                current = kube.replace_native(desired, current["metadata"]["resourceVersion"])
                events.append(Event("Normal", "ScorerUpdated", f"Updated {kind} {where}"))
        except ApiException as exc:
            if exc.status not in (400, 422):
                raise
            # The API server refused what the spec and the operator's settings make (the spec passed
            # the CRD's validation): retrying cannot help, a change of either can.
            rejections.append(f"the API server refused {kind} {where}: {_reason(exc)}")
            continue
        if kind == "Deployment":
            deployment = current
    for reason, problems in (("ScorerNameTaken", refusals), ("ScorerRejected", rejections)):
        if problems:
            message = "; ".join(problems)
            events.append(Event("Warning", reason, message))
            status = {"scorer": "", "scoringReady": f"0/{replicas}"}
            return StepResult(
                condition(SCORING_READY, False, reason, message), status, events, permanent=message
            )
    available, why = deployment_readiness(deployment, replicas)
    status = {"scorer": name, "scoringReady": f"{available}/{replicas}"}
    if why:
        message = f"scorer Deployment {pipeline.namespace}/{name}: {why}"
        return StepResult(
            condition(SCORING_READY, False, "ScorerNotAvailable", message),
            status,
            events,
            repaired,
            waiting=message,
        )
    message = f"{available}/{replicas} scorer pods available in Deployment {pipeline.namespace}/{name}"
    return StepResult(condition(SCORING_READY, True, "ScorerAvailable", message), status, events, repaired)


def delete_scorer(pipeline: Pipeline) -> list[str]:
    """Delete the scorer's objects (found by the pipeline's labels); return what was deleted."""
    deleted = []
    for kind in SCORER_KINDS:
        for obj in kube.list_native(kind, pipeline.namespace, pipeline.selector):
            name = obj["metadata"]["name"]
            if kube.delete_native(kind, pipeline.namespace, name):
                deleted.append(f"{kind} {pipeline.namespace}/{name}")
    return deleted


def _reason(exc: ApiException) -> str:
    """The API server's own message of a refusal (a Status object's message), else its reason."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (TypeError, ValueError):
        message = None
    return str(message or f"{exc.status} {exc.reason}")
