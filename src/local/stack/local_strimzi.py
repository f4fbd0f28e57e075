"""Strimzi's topic and connector operators, in miniature, for the local stack.

In Kubernetes, Strimzi turns `KafkaTopic` resources into Kafka topics and `KafkaConnector`
resources into connectors on a KafkaConnect cluster, then writes their status. The local stack has
the real API server, Kafka broker and Connect worker but no Strimzi, so this loop does that job for
real: it creates (and grows) the topics in the local broker, PUTs the connectors into the local
worker, and writes the status the way Strimzi does (`observedGeneration`, a `Ready` condition,
`topicName` / `connectorStatus`). It resolves `${secrets:<ns>/<name>:<key>}` placeholders from
Kubernetes Secrets, as Strimzi's KubernetesSecretConfigProvider does inside a Connect worker.

It is deliberately small: one cluster, polling instead of watches, no topic deletion on resource
removal unless the resource asked for it (Strimzi's default `delete` policy deletes; we do too).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fraudlake.common.background import BackgroundThread
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.services import connect as connect_rest

log = logging.getLogger(__name__)

GROUP, VERSION = "kafka.strimzi.io", "v1"
_SECRET_REF = re.compile(r"\$\{secrets:([^/}]+)/([^:}]+):([^}]+)\}")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_status(generation: int, ready: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    """Strimzi's status shape: observedGeneration + one Ready condition."""
    condition = {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": _now()}
    if not ready:
        condition |= {"reason": reason, "message": message}
    return {"observedGeneration": generation, "conditions": [condition]}


def resolve_secret_refs(
    config: dict[str, Any], read_secret: Callable[[str, str, str], str]
) -> dict[str, str]:
    """Replace `${secrets:ns/name:key}` placeholders with the Secret's value (config provider semantics)."""

    def substitute(value: str) -> str:
        return _SECRET_REF.sub(lambda m: read_secret(m.group(1), m.group(2), m.group(3)), value)

    return {key: substitute(str(value)) for key, value in config.items()}


class LocalStrimzi(BackgroundThread):
    """Background reconciler of KafkaTopics and KafkaConnectors against the local Kafka and Connect."""

    join_timeout = 15.0  # a round may be waiting on Kafka Connect's REST API

    def __init__(self, api: client.ApiClient, bootstrap: str, connect_rest_url: str, interval: float = 1.0):
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.rest = connect_rest_url
        self.interval = interval
        self._known_connectors: set[str] = set()
        super().__init__("local-strimzi")

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        # librdkafka keeps reconnecting (and logging) while the client lives, even after the
        # stack's Kafka is gone; AdminClient has no close(), so release it here.
        del self.admin

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile_once()
            except Exception:
                log.exception("local Strimzi round failed; retrying")
            self._stop.wait(self.interval)

    def reconcile_once(self) -> None:
        """One pass over every KafkaTopic and KafkaConnector in the cluster."""
        for topic in self._list("kafkatopics"):
            self._reconcile(topic, "kafkatopics", self._ensure_topic)
        connectors = self._list("kafkaconnectors")
        for connector in connectors:
            self._reconcile(connector, "kafkaconnectors", self._ensure_connector)
        live = {c["metadata"]["name"] for c in connectors if not c["metadata"].get("deletionTimestamp")}
        for gone in self._known_connectors - live:
            with contextlib.suppress(StackError):
                connect_rest.delete_connector(self.rest, gone)
        self._known_connectors = live

    def _list(self, plural: str) -> list[dict[str, Any]]:
        # The client types custom-object calls as `object`; with preloaded content they return the JSON dict.
        listing = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, VERSION, plural))
        return list(listing.get("items", []))

    def _reconcile(self, obj: dict[str, Any], plural: str, ensure: Callable[[dict[str, Any]], dict]) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        try:
            extra = ensure(obj)
            status = ready_status(meta["generation"], True) | extra
        except (StackError, ApiException, RuntimeError, KeyError, ValueError) as exc:
            log.warning("%s %s/%s not ready: %s", plural, meta["namespace"], meta["name"], exc)
            status = ready_status(meta["generation"], False, type(exc).__name__, str(exc)[:500])
        if _same_status(obj.get("status") or {}, status):
            return
        with contextlib.suppress(ApiException):  # deleted or changed meanwhile: next round
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], plural, meta["name"], {"status": status}
            )

    # --- topics ---------------------------------------------------------------------------

    def _ensure_topic(self, obj: dict[str, Any]) -> dict[str, Any]:
        spec = obj["spec"]
        name = spec.get("topicName") or obj["metadata"]["name"]
        config = {k: str(v) for k, v in (spec.get("config") or {}).items()}
        partitions = int(spec.get("partitions", 1))
        existing = self.admin.list_topics(timeout=10).topics.get(name)
        if existing is None:
            new = NewTopic(name, partitions, int(spec.get("replicas", 1)), config=config)
            self.admin.create_topics([new])[name].result(timeout=30)
        else:
            if len(existing.partitions) < partitions:
                self.admin.create_partitions([NewPartitions(name, partitions)])[name].result(timeout=30)
            if config:
                resource = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=config)
                for future in self.admin.alter_configs([resource]).values():
                    future.result(timeout=30)
        return {"topicName": name}

    # --- connectors -----------------------------------------------------------------------

    def _ensure_connector(self, obj: dict[str, Any]) -> dict[str, Any]:
        name, spec = obj["metadata"]["name"], obj["spec"]
        config = resolve_secret_refs(spec.get("config") or {}, self._read_secret)
        config |= {"connector.class": spec["class"], "tasks.max": str(spec.get("tasksMax", 1))}
        connect_rest.put_connector(self.rest, name, config)
        state = connect_rest.connector_status(self.rest, name)
        failed = [t for t in state.get("tasks", []) if t.get("state") == "FAILED"]
        if state["connector"]["state"] == "FAILED" or failed:
            trace = (failed[0] if failed else state["connector"]).get("trace", "")
            raise RuntimeError(f"connector {name} failed: {trace.splitlines()[0] if trace else 'no trace'}")
        return {
            "connectorStatus": state,
            "tasksMax": int(spec.get("tasksMax", 1)),
            "topics": sorted(config.get("topics", "").split(",")),
        }

    def _read_secret(self, namespace: str, name: str, key: str) -> str:
        data = self.core.read_namespaced_secret(name, namespace).data or {}
        if key not in data:
            raise KeyError(f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()


def _same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal apart from timestamps and the connector's live task list (avoid write churn)."""

    def strip(status: dict[str, Any]) -> dict[str, Any]:
        conditions = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions", [])
        ]
        return {**status, "conditions": conditions, "connectorStatus": None}

    return strip(old) == strip(new)
