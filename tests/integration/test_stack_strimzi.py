"""The local Strimzi stand-in against the real API server, Kafka and Connect: each KafkaTopic and
KafkaConnector gets its own status, and one that Kafka or Connect refuses blocks none of the others."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource
from fraudpipeline_kit import eventually, new_namespace
from kubernetes import client, config

from fraudlake.lake.connector import S3_SINK_CLASS
from fraudlake.local.stack.local_strimzi import GROUP, VERSION, LocalStrimzi
from fraudlake.local.stack.service import ServiceRecord

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def api(kube: ServiceRecord) -> client.ApiClient:
    return config.new_client_from_config(config_file=kube.endpoints["kubeconfig"])


@pytest.fixture
def strimzi(
    api: client.ApiClient, kafka: ServiceRecord, kafka_connect: ServiceRecord
) -> Iterator[LocalStrimzi]:
    with LocalStrimzi(
        api, kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"], interval=0.3
    ) as loop:
        yield loop


@pytest.fixture
def namespace(api: client.ApiClient) -> str:
    return new_namespace(api, "strimzi")


def kafka_topic(
    namespace: str, name: str, replicas: int, partitions: int = 1, **config: Any
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": namespace, "labels": {"strimzi.io/cluster": "local"}},
        "spec": {"partitions": partitions, "replicas": replicas, "config": config},
    }


def kafka_connector(namespace: str, name: str, connector_class: str, **config: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KafkaConnector",
        "metadata": {"name": name, "namespace": namespace, "labels": {"strimzi.io/cluster": "local"}},
        "spec": {"class": connector_class, "tasksMax": 1, "config": config},
    }


def create(api: client.ApiClient, plural: str, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


def ready_condition(api: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object's Ready condition once the stand-in has reconciled its current generation."""
    obj = cast(
        dict[str, Any],
        client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name),
    )
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def settled(api: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any]:
    return eventually(
        lambda: ready_condition(api, plural, namespace, name), 60, what=f"{plural} {name} status"
    )


def unique(prefix: str) -> str:
    # "a-" sorts first: the refused object comes before the good ones in every listing.
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_topic_kafka_refuses_is_not_ready_and_the_topic_beside_it_is_created(
    api: client.ApiClient, kafka: ServiceRecord, strimzi: LocalStrimzi, namespace: str
) -> None:
    bad, good = unique("a-three-replicas"), unique("b-one-replica")
    create(api, "kafkatopics", kafka_topic(namespace, bad, replicas=3))
    create(
        api,
        "kafkatopics",
        kafka_topic(namespace, good, replicas=1, partitions=2, **{"retention.ms": 3600000}),
    )

    refused = settled(api, "kafkatopics", namespace, bad)
    assert refused["status"] == "False"
    assert refused["reason"] == "InvalidReplicationFactor"
    assert "replication factor of 3" in refused["message"]
    assert "1 broker" in refused["message"]

    assert settled(api, "kafkatopics", namespace, good)["status"] == "True"
    admin = AdminClient({"bootstrap.servers": kafka.endpoints["bootstrap"]})
    topics = admin.list_topics(timeout=10).topics
    assert bad not in topics
    assert len(topics[good].partitions) == 2
    resource = ConfigResource(ConfigResource.Type.TOPIC, good)
    assert admin.describe_configs([resource])[resource].result(timeout=30)["retention.ms"].value == "3600000"
    # status.topicId is Kafka's id of the topic, as Strimzi's topic operator reports it (URL-safe).
    described = admin.describe_topics(TopicCollection([good]))[good].result(timeout=30)
    good_topic = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "kafkatopics", good
    )
    reported = cast(dict[str, Any], good_topic)["status"]["topicId"]
    assert reported == str(described.topic_id).replace("+", "-").replace("/", "_")


def test_the_stand_in_keeps_reconciling_and_a_fixed_topic_becomes_ready(
    api: client.ApiClient, kafka: ServiceRecord, strimzi: LocalStrimzi, namespace: str
) -> None:
    bad = unique("a-three-replicas")
    create(api, "kafkatopics", kafka_topic(namespace, bad, replicas=3))
    assert settled(api, "kafkatopics", namespace, bad)["status"] == "False"

    later = unique("c-later")
    create(api, "kafkatopics", kafka_topic(namespace, later, replicas=1))
    assert settled(api, "kafkatopics", namespace, later)["status"] == "True"

    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "kafkatopics", bad, {"spec": {"replicas": 1}}
    )
    fixed = eventually(
        lambda: (c := ready_condition(api, "kafkatopics", namespace, bad)) and c["status"] == "True" and c,
        60,
        what=f"{bad} Ready after the fix",
    )
    assert "reason" not in fixed


def test_a_topic_shrink_is_refused_as_strimzi_refuses_it(
    api: client.ApiClient, strimzi: LocalStrimzi, namespace: str
) -> None:
    name = unique("shrink")
    create(api, "kafkatopics", kafka_topic(namespace, name, replicas=1, partitions=3))
    assert settled(api, "kafkatopics", namespace, name)["status"] == "True"
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "kafkatopics", name, {"spec": {"partitions": 1}}
    )
    refused = settled(api, "kafkatopics", namespace, name)
    assert (refused["status"], refused["reason"]) == ("False", "NotSupported")
    assert "Decreasing partitions" in refused["message"]


def test_connectors_connect_refuses_get_their_own_reason_and_topics_still_reconcile(
    api: client.ApiClient, strimzi: LocalStrimzi, namespace: str
) -> None:
    unknown_class = unique("a-unknown-class")
    create(api, "kafkaconnectors", kafka_connector(namespace, unknown_class, "com.example.NoSuchConnector"))
    missing_secret = unique("b-missing-secret")
    create(
        api,
        "kafkaconnectors",
        kafka_connector(
            namespace,
            missing_secret,
            "com.example.NoSuchConnector",
            password=f"${{secrets:{namespace}/nope:key}}",
        ),
    )
    topic = unique("c-topic")
    create(api, "kafkatopics", kafka_topic(namespace, topic, replicas=1))

    refused = settled(api, "kafkaconnectors", namespace, unknown_class)
    assert (refused["status"], refused["reason"]) == ("False", "ConnectRestException")
    assert "NoSuchConnector" in refused["message"]
    no_secret = settled(api, "kafkaconnectors", namespace, missing_secret)
    assert (no_secret["status"], no_secret["reason"]) == ("False", "SecretNotFound")
    assert f"{namespace}/nope" in no_secret["message"]
    assert settled(api, "kafkatopics", namespace, topic)["status"] == "True"


def test_a_connector_follows_its_spec_state_as_strimzi_makes_it(
    api: client.ApiClient, strimzi: LocalStrimzi, namespace: str
) -> None:
    """spec.state stopped stops the connector in the worker (the operator stops the lake sink while
    a topic's new incarnation is refused); running resumes it."""
    topic, name = unique("state-topic"), unique("state-sink")
    create(api, "kafkatopics", kafka_topic(namespace, topic, replicas=1))
    connector = kafka_connector(
        namespace, name, S3_SINK_CLASS, topics=topic, **{"aws.s3.bucket.name": "never-written"}
    )
    connector["spec"]["state"] = "stopped"
    create(api, "kafkaconnectors", connector)
    custom = client.CustomObjectsApi(api)

    def worker_state() -> str | None:
        obj = cast(
            dict[str, Any],
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "kafkaconnectors", name),
        )
        return ((obj.get("status") or {}).get("connectorStatus") or {}).get("connector", {}).get("state")

    eventually(lambda: worker_state() == "STOPPED", 60, what=f"{name} STOPPED")
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "kafkaconnectors", name, {"spec": {"state": "running"}}
    )
    eventually(lambda: worker_state() == "RUNNING", 60, what=f"{name} RUNNING")
