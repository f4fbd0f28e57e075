"""The status the local Strimzi stand-in writes on each KafkaTopic and KafkaConnector, as Strimzi does.

Every object gets its own status: ``observedGeneration``, one ``Ready`` condition and, when it is not
Ready, a CamelCase reason and a message a person can act on. A failure is a property of the one
object it concerns, so nothing here raises: any exception met while reconciling an object becomes
that object's `NotReadyError`.
"""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from kubernetes.client.exceptions import ApiException

from fraudlake.local.stack.errors import StackError

MESSAGE_LIMIT = 500  # a condition message is for reading in `kubectl get`, not a log


class NotReadyError(Exception):
    """Why one object is not Ready: Strimzi's condition reason (one CamelCase word) and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def camel_case(constant: str) -> str:
    """INVALID_REPLICATION_FACTOR -> InvalidReplicationFactor (Kafka's error names as condition reasons)."""
    return "".join(word.capitalize() for word in re.split(r"[_\W]+", constant) if word)


def problem_from(exc: BaseException) -> NotReadyError:
    """The reason and message an exception met while reconciling one object gives that object.

    Kafka's own errors keep Kafka's name for the reason (INVALID_REPLICATION_FACTOR ->
    InvalidReplicationFactor) and Kafka's explanation; the Connect REST API's refusals are
    ConnectRestException as in Strimzi; anything unforeseen is Strimzi's InternalError.
    """
    if isinstance(exc, NotReadyError):
        return exc
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        error = exc.args[0]
        return NotReadyError(camel_case(error.name()), error.str())
    if isinstance(exc, ApiException):
        return NotReadyError("KubernetesApiError", f"the API server answered {exc.status} {exc.reason}")
    if isinstance(exc, StackError):
        return NotReadyError("ConnectRestException", str(exc))
    if isinstance(exc, urllib.error.URLError):
        return NotReadyError(
            "ConnectRestException", f"the Kafka Connect REST API is unreachable: {exc.reason}"
        )
    return NotReadyError("InternalError", f"{type(exc).__name__}: {exc}")


def resource_status(
    generation: int,
    previous: Mapping[str, Any] | None,
    at: str,
    problem: NotReadyError | None = None,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The status of one object reconciled at `generation`: Ready True, or False with `problem`.

    `fields` are the kind's own status fields (topicName, connectorStatus, …). The Ready condition
    keeps its lastTransitionTime while its status stays the same (Kubernetes' convention), so an
    unchanged object yields an unchanged status.
    """
    ready = {"type": "Ready", "status": "True" if problem is None else "False"}
    if problem is not None:
        ready |= {"reason": problem.reason, "message": problem.message[:MESSAGE_LIMIT]}
    old = _ready_condition(previous)
    unchanged = old is not None and old.get("status") == ready["status"] and old.get("lastTransitionTime")
    ready["lastTransitionTime"] = old["lastTransitionTime"] if unchanged and old else at
    return {"observedGeneration": generation, "conditions": [ready], **(fields or {})}


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether `new` says something `old` does not (a connector's live task list alone is no news;
    its state, e.g. RUNNING -> STOPPED after spec.state changed, is)."""

    def comparable(status: Mapping[str, Any]) -> dict[str, Any]:
        fields = {key: value for key, value in status.items() if key != "connectorStatus"}
        connector = (status.get("connectorStatus") or {}).get("connector") or {}
        return fields | {"connectorState": connector.get("state")}

    return comparable(old or {}) != comparable(new)


def _ready_condition(status: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return next((c for c in (status or {}).get("conditions", []) if c.get("type") == "Ready"), None)
