"""The local API server behaves like a cluster's: CRDs, watches, schema validation, kubectl."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration

GROUP = "itest.fraudlake.io"


@pytest.fixture(scope="module")
def api(kube: ServiceRecord) -> client.ApiClient:
    return config.new_client_from_config(config_file=kube.endpoints["kubeconfig"])


def kubectl(kube: ServiceRecord, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(kubectl_binary()), f"--kubeconfig={kube.endpoints['kubeconfig']}", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def widget_crd(plural: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural.capitalize()[:-1]},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }


def wait_established(ext: client.ApiextensionsV1Api, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError(f"CRD {name} not Established after {timeout}s")


@pytest.fixture
def widgets(api: client.ApiClient) -> Iterator[tuple[str, str]]:
    """A fresh CRD for this test: yields (plural, kind); deleted afterwards."""
    plural = f"widget{uuid.uuid4().hex[:6]}s"
    ext = client.ApiextensionsV1Api(api)
    crd = widget_crd(plural)
    ext.create_custom_resource_definition(crd)
    wait_established(ext, crd["metadata"]["name"])
    yield plural, crd["spec"]["names"]["kind"]
    ext.delete_custom_resource_definition(crd["metadata"]["name"])


def create_with_discovery_retry(objects: client.CustomObjectsApi, plural: str, body: dict[str, Any]) -> None:
    # Established means stored; the new REST endpoint can still answer 404 for a moment.
    for _ in range(50):
        try:
            objects.create_namespaced_custom_object(GROUP, "v1", "default", plural, body)
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
            time.sleep(0.1)
    raise AssertionError(f"{plural} endpoint never appeared")


def rejection(exc: ApiException) -> str:
    """The API server's Status message of a rejected request (the JSON body escapes quotes)."""
    assert exc.status == 422, exc.body
    return str(json.loads(exc.body)["message"])


def test_version_reports_the_pinned_release(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.git_version == "v1.35.4"
    assert (info.major, info.minor) == ("1", "35")


def test_custom_resource_create_and_patch_are_watched(
    api: client.ApiClient, widgets: tuple[str, str]
) -> None:
    plural, kind = widgets
    objects = client.CustomObjectsApi(api)
    start = objects.list_namespaced_custom_object(GROUP, "v1", "default", plural)["metadata"][
        "resourceVersion"
    ]
    body = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "w1"}, "spec": {"size": 1}}
    create_with_discovery_retry(objects, plural, body)
    objects.patch_namespaced_custom_object(GROUP, "v1", "default", plural, "w1", {"spec": {"size": 2}})

    seen = []
    stream = watch.Watch().stream(
        objects.list_namespaced_custom_object,
        GROUP,
        "v1",
        "default",
        plural,
        resource_version=start,
        timeout_seconds=10,
    )
    for event in stream:
        seen.append((event["type"], event["object"]["spec"]["size"]))
        if event["type"] == "MODIFIED":
            break
    assert seen == [("ADDED", 1), ("MODIFIED", 2)]


def test_custom_resource_schema_rejects_bad_values(api: client.ApiClient, widgets: tuple[str, str]) -> None:
    plural, kind = widgets
    objects = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "bad"}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as info:
        create_with_discovery_retry(objects, plural, body)
    assert info.value.status == 422
    assert (
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        in info.value.body
    )


def kafka_topic(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    topic: dict[str, Any] = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "local"}},
    }
    if spec is not None:
        topic["spec"] = spec
    return topic


def create_topic(api: client.ApiClient, topic: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "kafka.strimzi.io", "v1", "default", "kafkatopics", topic, dry_run="All"
    )


def test_strimzi_topic_with_string_partitions_is_rejected(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as info:
        create_topic(api, kafka_topic("bad-partitions", {"partitions": "three", "replicas": 1}))
    assert 'spec.partitions: Invalid value: "string": spec.partitions in body must be of type integer' in (
        rejection(info.value)
    )


def test_strimzi_topic_without_spec_is_rejected(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as info:
        create_topic(api, kafka_topic("no-spec", None))
    assert "spec: Required value" in rejection(info.value)


def test_valid_strimzi_topic_passes_server_validation(api: client.ApiClient) -> None:
    create_topic(
        api, kafka_topic("transactions", {"partitions": 3, "replicas": 1, "config": {"retention.ms": 1}})
    )


def test_kubectl_lists_the_installed_crds(kube: ServiceRecord) -> None:
    result = kubectl(kube, "get", "crds", "-o", "name")
    assert result.returncode == 0, result.stderr
    names = set(result.stdout.split())
    assert {
        "customresourcedefinition.apiextensions.k8s.io/kafkatopics.kafka.strimzi.io",
        "customresourcedefinition.apiextensions.k8s.io/kafkaconnectors.kafka.strimzi.io",
        "customresourcedefinition.apiextensions.k8s.io/clickhouseinstallations.clickhouse.altinity.com",
    } <= names


def test_kubectl_server_dry_run_accepts_good_and_rejects_bad_topics(kube: ServiceRecord) -> None:
    good = yaml.safe_dump(kafka_topic("cards", {"partitions": 1, "replicas": 1}))
    accepted = kubectl(kube, "apply", "--dry-run=server", "-f", "-", stdin=good)
    assert accepted.returncode == 0, accepted.stderr
    assert "kafkatopic.kafka.strimzi.io/cards created (server dry run)" in accepted.stdout

    bad = yaml.safe_dump(kafka_topic("cards", {"partitions": 0}))
    rejected = kubectl(kube, "apply", "--dry-run=server", "-f", "-", stdin=bad)
    assert rejected.returncode != 0
    assert (
        "spec.partitions: Invalid value: 0: spec.partitions in body should be greater than or equal to 1"
        in (rejected.stderr)
    )
    assert kubectl(kube, "get", "kafkatopics", "-o", "name").stdout.strip() == ""  # dry runs stored nothing


def test_kubectl_reports_matching_client_and_server_versions(kube: ServiceRecord) -> None:
    result = kubectl(kube, "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    versions = yaml.safe_load(result.stdout)
    assert versions["clientVersion"]["gitVersion"] == versions["serverVersion"]["gitVersion"] == "v1.35.4"
