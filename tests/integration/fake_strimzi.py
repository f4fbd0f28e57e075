"""Stand-in for Strimzi's operators in tests: marks the operator's KafkaTopics/KafkaConnectors Ready.

There is no Strimzi (nor Kafka) behind the local API server, so nothing would ever write the
children's status. This thread does what Strimzi's topic operator and Connect operator write on
success: ``status.observedGeneration`` = the object's generation and a ``Ready`` condition (plus
``topicName`` and ``topicId`` / connector fields). Objects named in `hold` are left alone (a child
that Strimzi has not reconciled yet).
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fraudlake.common.background import BackgroundThread

GROUP, VERSION = "kafka.strimzi.io", "v1"
SELECTOR = "app.kubernetes.io/managed-by=fraudlake-operator"


def topic_id_of(uid: str) -> str:
    """A Kafka-style topic id (URL-safe base64 of 16 bytes) per KafkaTopic object: a KafkaTopic
    deleted and created again gets a new uid, as the Kafka topic behind it gets a new id."""
    return base64.urlsafe_b64encode(uuid.UUID(uid).bytes).decode().rstrip("=")


class FakeStrimzi(BackgroundThread):
    """Background thread; use as a context manager."""

    def __init__(self, api: client.ApiClient, interval: float = 0.2) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.interval = interval
        self.hold: set[str] = set()
        super().__init__("fake-strimzi")

    def _run(self) -> None:
        while not self._stop.is_set():
            for plural in ("kafkatopics", "kafkaconnectors"):
                try:
                    items = self.custom.list_cluster_custom_object(
                        GROUP, VERSION, plural, label_selector=SELECTOR
                    )
                except ApiException:
                    continue
                for obj in items.get("items", []):
                    self._mark_ready(plural, obj)
            time.sleep(self.interval)

    def _mark_ready(self, plural: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if meta["name"] in self.hold or meta.get("deletionTimestamp"):
            return
        status = obj.get("status") or {}
        if status.get("observedGeneration") == meta["generation"]:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        new_status: dict[str, Any] = {
            "observedGeneration": meta["generation"],
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        }
        if plural == "kafkatopics":
            new_status["topicName"] = obj["spec"].get("topicName", meta["name"])
            new_status["topicId"] = topic_id_of(meta["uid"])
        else:
            new_status |= {
                "connectorStatus": {"name": meta["name"], "connector": {"state": "RUNNING"}, "tasks": []},
                "tasksMax": obj["spec"].get("tasksMax", 1),
                "topics": sorted(obj["spec"]["config"]["topics"].split(",")),
            }
        # Deleted or changed meanwhile? The next round sees the new state.
        with contextlib.suppress(ApiException):
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], plural, meta["name"], {"status": new_status}
            )
