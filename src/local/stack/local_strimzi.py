"""Strimzi's topic and connector operators, in miniature, for the local stack.

In Kubernetes, Strimzi turns `KafkaTopic` resources into Kafka topics and `KafkaConnector`
resources into connectors on a KafkaConnect cluster, then writes their status. The local stack has
the real API server, Kafka broker and Connect worker but no Strimzi, so this loop does that job for
real: it creates (and grows) the topics in the local broker, keeps their config as the spec says,
PUTs the connectors into the local worker, and resolves `${secrets:<ns>/<name>:<key>}` placeholders
from Kubernetes Secrets, as Strimzi's KubernetesSecretConfigProvider does inside a Connect worker.

Like Strimzi, it reconciles each object on its own and reports the outcome in that object's status
(`fraudlake.local.stack.strimzi_status`): a topic Kafka refuses (three replicas on the one local
broker) is Ready False with Kafka's reason, and every other topic and connector is still reconciled.

It is deliberately small: one cluster, polling instead of watches, no finalizers. A connector whose
resource is deleted is deleted from the worker; a topic whose resource is deleted stays in Kafka
(Strimzi would delete it; keeping the data is the safer default for a laptop).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fraudlake.common.background import BackgroundThread
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.services import connect as connect_rest
from fraudlake.local.stack.strimzi_status import (
    NotReadyError,
    problem_from,
    resource_status,
    status_changed,
)
from fraudlake.operator.conditions import now

log = logging.getLogger(__name__)

GROUP, VERSION = "kafka.strimzi.io", "v1"
_SECRET_REF = re.compile(r"\$\{secrets:([^/}]+)/([^:}]+):([^}]+)\}")
_KAFKA_TIMEOUT = 30.0
_METADATA_PROPAGATION_SECONDS = 5.0
# Connect REST actions that bring a connector to a KafkaConnector's spec.state.
_STATE_ACTIONS = {"running": "resume", "paused": "pause", "stopped": "stop"}


def resolve_secret_refs(
    config: dict[str, Any], read_secret: Callable[[str, str, str], str]
) -> dict[str, str]:
    """Replace `${secrets:ns/name:key}` placeholders with the Secret's value (config provider semantics)."""

    def substitute(value: str) -> str:
        return _SECRET_REF.sub(lambda m: read_secret(m.group(1), m.group(2), m.group(3)), value)

    return {key: substitute(str(value)) for key, value in config.items()}


def kafka_topic_id(topic_id: object) -> str:
    """A topic id from confluent-kafka as Kafka (and so Strimzi) prints it: URL-safe base64 without
    padding. librdkafka prints standard base64, whose '/' and '+' would break an object key."""
    return str(topic_id).replace("+", "-").replace("/", "_").rstrip("=")


def topic_name_of(topic: dict[str, Any]) -> str:
    """The Kafka topic a KafkaTopic stands for: spec.topicName, else the resource's name (Strimzi's rule)."""
    return str(topic["spec"].get("topicName") or topic["metadata"]["name"])


class LocalStrimzi(BackgroundThread):
    """Background reconciler of KafkaTopics and KafkaConnectors against the local Kafka and Connect."""

    join_timeout = 15.0  # a round may be waiting on Kafka Connect's REST API

    def __init__(self, api: client.ApiClient, bootstrap: str, connect_rest_url: str, interval: float = 1.0):
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        # Quiet: when the broker stops first (Ctrl-C of the demo) librdkafka would print to the terminal.
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        self.rest = connect_rest_url
        self.interval = interval
        self._known_connectors: set[str] = set()
        self._last_round_error = ""
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
                self._last_round_error = ""
            except Exception as exc:  # the API server itself is unreachable: nothing to report on
                self._note_round_error(exc)
            self._stop.wait(self.interval)

    def _note_round_error(self, exc: Exception) -> None:
        # One line when the trouble starts or changes, not one per second while it lasts.
        message = f"{type(exc).__name__}: {exc}"
        if message != self._last_round_error:
            log.warning(
                "local Strimzi cannot list its resources, retrying every %.0fs: %s", self.interval, message
            )
        self._last_round_error = message

    def reconcile_once(self) -> None:
        """One pass over every KafkaTopic and KafkaConnector; each one's outcome goes into its own status.

        Raises only when the resources cannot be listed at all.
        """
        topics = self._list("kafkatopics")
        cluster = self._cluster_metadata() if topics else None
        for topic in topics:
            self._reconcile(topic, "kafkatopics", lambda obj: self._ensure_topic(obj, cluster))
        connectors = self._list("kafkaconnectors")
        for connector in connectors:
            self._reconcile(connector, "kafkaconnectors", self._ensure_connector)
        self._forget_deleted_connectors(connectors)

    def _list(self, plural: str) -> list[dict[str, Any]]:
        # The client types custom-object calls as `object`; with preloaded content they return the JSON dict.
        listing = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, VERSION, plural))
        return list(listing.get("items", []))

    def _reconcile(self, obj: dict[str, Any], plural: str, ensure: Callable[[dict[str, Any]], dict]) -> None:
        """Ensure one object and write its status; whatever goes wrong stays with this object."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        problem, fields = None, {}
        try:
            fields = ensure(obj)
        except Exception as exc:  # every failure is this object's status, not the round's
            problem = problem_from(exc)
        previous = obj.get("status") or {}
        status = resource_status(meta["generation"], previous, now(), problem, fields)
        if not status_changed(previous, status):
            return
        self._report(plural, meta, problem)
        # A merge patch keeps keys it does not mention: null out what the new status no longer has.
        body = {"status": {**dict.fromkeys(previous), **status}}
        with contextlib.suppress(ApiException):  # deleted or changed meanwhile: next round
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], plural, meta["name"], body
            )

    @staticmethod
    def _report(plural: str, meta: dict[str, Any], problem: NotReadyError | None) -> None:
        what = f"{plural} {meta['namespace']}/{meta['name']}"
        if problem is None:
            log.info("%s Ready", what)
        else:
            # An unforeseen error keeps its traceback for whoever reads the log.
            unforeseen = problem.reason == "InternalError"
            log.warning("%s not Ready: %s: %s", what, problem.reason, problem.message, exc_info=unforeseen)

    # --- topics ---------------------------------------------------------------------------

    def _cluster_metadata(self) -> ClusterMetadata | NotReadyError:
        """The broker's topics, once per round; a NotReadyError for every topic when Kafka does not answer."""
        try:
            return self.admin.list_topics(timeout=10)
        except KafkaException as exc:
            return problem_from(exc)

    def _ensure_topic(
        self, obj: dict[str, Any], cluster: ClusterMetadata | NotReadyError | None
    ) -> dict[str, Any]:
        if isinstance(cluster, NotReadyError) or cluster is None:
            raise cluster or NotReadyError("KafkaError", "no cluster metadata")
        spec, name = obj["spec"], topic_name_of(obj)
        partitions, replicas = int(spec.get("partitions", 1)), int(spec.get("replicas", 1))
        config = {key: str(value) for key, value in (spec.get("config") or {}).items()}
        existing = cluster.topics.get(name)
        if existing is None:
            new = NewTopic(name, partitions, replicas, config=config)
            self.admin.create_topics([new])[name].result(timeout=_KAFKA_TIMEOUT)
            return {"topicName": name, "topicId": self._topic_id(name)}
        current_partitions = len(existing.partitions)
        current_replicas = len(existing.partitions[0].replicas) if existing.partitions else replicas
        # Strimzi's topic operator refuses both, in these words, and leaves the topic as it is.
        if partitions < current_partitions:
            raise NotReadyError(
                "NotSupported", f"Decreasing partitions not supported ({current_partitions} -> {partitions})"
            )
        if replicas != current_replicas:
            raise NotReadyError(
                "NotSupported", f"Replication factor change not supported ({current_replicas} -> {replicas})"
            )
        if partitions > current_partitions:
            self.admin.create_partitions([NewPartitions(name, partitions)])[name].result(
                timeout=_KAFKA_TIMEOUT
            )
        self._converge_config(name, config)
        return {"topicName": name, "topicId": self._topic_id(name)}

    def _topic_id(self, name: str) -> str:
        """Kafka's id of the topic, as Strimzi's topic operator reports it in status.topicId (the
        topic's incarnation: a topic deleted and created again gets a new one)."""
        # Right after CreateTopics the broker answering DescribeTopics may not have the new topic in
        # its metadata yet (UNKNOWN_TOPIC_OR_PART for a few ms under load): that is not a problem
        # with the topic, so wait it out instead of reporting the topic not Ready for a round.
        deadline = time.monotonic() + _METADATA_PROPAGATION_SECONDS
        while True:
            future = self.admin.describe_topics(TopicCollection([name]))[name]
            try:
                return kafka_topic_id(future.result(timeout=_KAFKA_TIMEOUT).topic_id)
            except KafkaException as exc:
                code = exc.args[0].code() if exc.args else None
                if code != KafkaError.UNKNOWN_TOPIC_OR_PART or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def _converge_config(self, topic: str, desired: dict[str, str]) -> None:
        """Set what the spec says, remove topic-level overrides it no longer lists (as Strimzi does)."""
        described = ConfigResource(ConfigResource.Type.TOPIC, topic)
        current = self.admin.describe_configs([described])[described].result(timeout=_KAFKA_TIMEOUT)
        overrides = {
            key: entry.value
            for key, entry in current.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        }
        changes = [
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in desired.items()
            if overrides.get(key) != value
        ]
        changes += [
            ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE)
            for key in overrides
            if key not in desired
        ]
        if changes:
            resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=changes)
            for future in self.admin.incremental_alter_configs([resource]).values():
                future.result(timeout=_KAFKA_TIMEOUT)

    # --- connectors -----------------------------------------------------------------------

    def _ensure_connector(self, obj: dict[str, Any]) -> dict[str, Any]:
        name, spec = obj["metadata"]["name"], obj["spec"]
        config = resolve_secret_refs(spec.get("config") or {}, self._read_secret)
        config |= {"connector.class": spec["class"], "tasks.max": str(spec.get("tasksMax", 1))}
        connect_rest.put_connector(self.rest, name, config)
        state = self._converge_state(name, str(spec.get("state") or "running"))
        failed = [t for t in state.get("tasks", []) if t.get("state") == "FAILED"]
        if state["connector"]["state"] == "FAILED" or failed:
            trace = (failed[0] if failed else state["connector"]).get("trace", "")
            raise NotReadyError(
                "ConnectorFailed", trace.splitlines()[0] if trace else f"connector {name} failed"
            )
        return {
            "connectorStatus": state,
            "tasksMax": int(spec.get("tasksMax", 1)),
            "topics": sorted(config.get("topics", "").split(",")),
        }

    def _converge_state(self, name: str, wanted: str) -> dict[str, Any]:
        """Bring the connector to spec.state (running, paused or stopped) as Strimzi does, through
        the worker's PUT /connectors/<name>/{resume,pause,stop}; its status afterwards."""
        state = connect_rest.connector_status(self.rest, name)
        action = _STATE_ACTIONS.get(wanted)
        if action is None:
            raise NotReadyError(
                "InvalidResourceException", f"spec.state {wanted!r} is not running, paused or stopped"
            )
        if state["connector"]["state"] != wanted.upper():
            request = urllib.request.Request(f"{self.rest}/connectors/{name}/{action}", method="PUT")  # noqa: S310
            with urllib.request.urlopen(request, timeout=_KAFKA_TIMEOUT):  # noqa: S310 - the local worker
                pass
            state = connect_rest.connector_status(self.rest, name)
        return state

    def _read_secret(self, namespace: str, name: str, key: str) -> str:
        try:
            data = self.core.read_namespaced_secret(name, namespace).data or {}
        except ApiException as exc:
            if exc.status == 404:
                raise NotReadyError("SecretNotFound", f"Secret {namespace}/{name} does not exist") from exc
            raise
        if key not in data:
            raise NotReadyError("SecretKeyNotFound", f"Secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()

    def _forget_deleted_connectors(self, connectors: list[dict[str, Any]]) -> None:
        live = {c["metadata"]["name"] for c in connectors if not c["metadata"].get("deletionTimestamp")}
        for gone in self._known_connectors - live:
            with contextlib.suppress(StackError, OSError):
                connect_rest.delete_connector(self.rest, gone)
        self._known_connectors = live
