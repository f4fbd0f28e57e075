"""The sources step against a fake Strimzi store: CDC topics before connectors, SourcesReady from
Strimzi's readiness, a failed Debezium task named in the condition, removed sources' connectors deleted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fraudlake.lake.connector import S3_SINK_CLASS
from fraudlake.operator import kube, source_children
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.results import Known
from fraudlake.operator.source_children import SOURCES_READY, failed_task_error, reconcile_sources
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit

READY = {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 1}


def pipeline(*sources: str) -> Pipeline:
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
            "sources": [
                {"name": name, "databaseSecret": {"name": "db"}, "tables": ["public.cards"]}
                for name in sources
            ],
        }
    )
    return Pipeline("fraud", "demo", 1, spec)


class FakeStrimzi:
    """KafkaTopics and KafkaConnectors by (kind, namespace, name); `ready` marks what Strimzi finished."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.created: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(kube, "get_strimzi", self.get)
        monkeypatch.setattr(kube, "create_strimzi", self.create)
        monkeypatch.setattr(kube, "patch_strimzi", self.create)
        monkeypatch.setattr(kube, "list_strimzi", self.list)
        monkeypatch.setattr(kube, "delete_strimzi", self.delete)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        key = (manifest["kind"], meta["namespace"], meta["name"])
        stored = {**copy.deepcopy(manifest), "metadata": {**meta, "generation": 1}}
        stored["status"] = (self.objects.get(key) or {}).get("status", {})
        self.objects[key] = stored
        self.created.append(f"{manifest['kind']} {meta['name']}")
        return copy.deepcopy(stored)

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (k, ns, _), o in self.objects.items() if k == kind and ns == namespace]

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        return self.objects.pop((kind, namespace, name), None) is not None

    def set_status(self, status: dict[str, Any]) -> None:
        for obj in self.objects.values():
            obj["status"] = copy.deepcopy(status)


@pytest.fixture
def strimzi(monkeypatch: pytest.MonkeyPatch) -> FakeStrimzi:
    fake = FakeStrimzi()
    fake.install(monkeypatch)
    return fake


def test_topics_then_connector_and_waiting_until_strimzi_is_done(strimzi: FakeStrimzi) -> None:
    result = reconcile_sources(pipeline("bank"), Known())
    assert strimzi.created == [
        "KafkaTopic fraudlake.fraud.demo.cdc.bank.public.cards",
        "KafkaConnector fraudlake.fraud.demo.cdc-bank",
    ]
    assert result.condition["type"] == SOURCES_READY
    assert (result.condition["status"], result.condition["reason"]) == ("False", "SourcesNotReady")
    assert result.waiting
    assert result.status == {"sources": ["fraudlake.fraud.demo.cdc-bank"]}

    strimzi.set_status(READY)
    ready = reconcile_sources(pipeline("bank"), Known())
    assert (ready.condition["status"], ready.condition["reason"]) == ("True", "SourcesReady")
    assert not ready.waiting
    assert ready.events == []  # nothing changed: no create or update


def test_a_failed_debezium_task_is_a_clear_condition(strimzi: FakeStrimzi) -> None:
    reconcile_sources(pipeline("bank"), Known())
    trace = "ConnectException: column credit_limit changed type\n\tat io.debezium..."
    strimzi.set_status(
        {
            **READY,
            "connectorStatus": {
                "connector": {"state": "RUNNING"},
                "tasks": [{"state": "FAILED", "trace": trace}],
            },
        }
    )
    result = reconcile_sources(pipeline("bank"), Known())
    assert (result.condition["status"], result.condition["reason"]) == ("False", "SourceConnectorFailed")
    assert "column credit_limit changed type" in result.condition["message"]
    assert "\tat io.debezium" not in result.condition["message"]
    assert not result.waiting  # a failure, not something on its way
    assert [e.reason for e in result.events] == ["SourceConnectorFailed"]


def test_removed_source_loses_its_connector_but_not_the_lake_sink(strimzi: FakeStrimzi) -> None:
    reconcile_sources(pipeline("bank", "cards"), Known())
    sink = {
        "kind": "KafkaConnector",
        "metadata": {"name": "fraudlake.fraud.demo.lake-sink", "namespace": "fraud"},
        "spec": {"class": S3_SINK_CLASS},
    }
    strimzi.create(sink)
    result = reconcile_sources(pipeline("bank"), Known())
    connectors = sorted(name for kind, _, name in strimzi.objects if kind == "KafkaConnector")
    assert connectors == ["fraudlake.fraud.demo.cdc-bank", "fraudlake.fraud.demo.lake-sink"]
    assert "ConnectorDeleted" in [e.reason for e in result.events]


def test_no_sources_is_ready_with_nothing_created(strimzi: FakeStrimzi) -> None:
    result = reconcile_sources(pipeline(), Known())
    assert (result.condition["status"], result.condition["reason"]) == ("True", "NoSources")
    assert strimzi.created == []


def test_failed_task_error_reads_strimzis_connector_status() -> None:
    assert (
        failed_task_error({"status": {"connectorStatus": {"connector": {"state": "RUNNING"}, "tasks": []}}})
        is None
    )
    failed = {"status": {"connectorStatus": {"connector": {"state": "FAILED", "trace": "boom\nmore"}}}}
    assert failed_task_error(failed) == "boom"
    assert source_children.failed_task_error({}) is None
