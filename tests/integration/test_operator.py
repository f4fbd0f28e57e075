"""The FraudPipeline operator end to end: real kube-apiserver (+ Strimzi CRDs), real chDB, Kopf.

Each test runs the operator in-process with `KopfRunner` (chDB allows one engine per process, so
the operator must use the session's ClickHouse DSN, which the test puts into the pipeline's Secret).
No Strimzi operator runs here: `FakeStrimzi` writes the children's status the way Strimzi does.
"""

from __future__ import annotations

import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The drift timer's interval is fixed when the handlers module is imported (by the first KopfRunner).
os.environ.setdefault("FRAUDLAKE_OPERATOR_DRIFT_INTERVAL_SECONDS", "1")
os.environ.setdefault("FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS", "1")

import pytest
from clickhouse_connect.driver.client import Client
from fake_strimzi import FakeStrimzi
from fraudpipeline_kit import (
    Kubectl,
    api,
    condition,
    crd,
    dsn_secret,
    events,
    eventually,
    example_documents,
    get_pipeline,
    kubectl,
    new_namespace,
    pipeline_manifest,
    strimzi,
)
from kopf.testing import KopfRunner
from kubernetes import client

from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import existing_objects, expected_objects, render_statements
from fraudlake.local.chdb_http.process import LocalClickHouseServer
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator import reconcile
from fraudlake.operator.builders import schema_params
from fraudlake.operator.tables import clickhouse as operator_clickhouse
from fraudlake.pipeline import naming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
__all__ = ["api", "crd", "kubectl"]  # fixtures

CORE_OBJECTS = {"transactions", "cards", "users", "load_ledger", "predictions", "alerts", "card_windows_10m"}


class Env:
    """One test's world: a pipeline namespace, a Kafka namespace, the operator and fake Strimzi."""

    def __init__(self, api: client.ApiClient, kubectl: Kubectl, dsn: str, strimzi: FakeStrimzi) -> None:
        self.api, self.kubectl, self.dsn, self.strimzi = api, kubectl, dsn, strimzi
        self.namespace = new_namespace(api, "fp")
        self.kafka_namespace = new_namespace(api, "kafka")
        self.custom = client.CustomObjectsApi(api)

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
        result = self.kubectl.apply(manifest)
        assert result.returncode == 0, result.stderr

    def pipeline(self, name: str, **spec: Any) -> dict[str, Any]:
        database = f"fp_{uuid.uuid4().hex[:8]}"
        return pipeline_manifest(self.namespace, self.kafka_namespace, name, database, **spec)

    def create(self, name: str = "demo", **spec: Any) -> dict[str, Any]:
        self.apply([dsn_secret(self.namespace, self.dsn), self.pipeline(name, **spec)])
        return get_pipeline(self.api, self.namespace, name)

    def get(self, name: str = "demo") -> dict[str, Any]:
        return get_pipeline(self.api, self.namespace, name)

    def patch(self, body: dict[str, Any], name: str = "demo") -> None:
        self.custom.patch_namespaced_custom_object(
            naming.GROUP, naming.VERSION, self.namespace, naming.PLURAL, name, body
        )

    def wait_ready(self, name: str = "demo", status: str = "True", timeout: float = 180) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.get(name)
            observed = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
            return obj if observed and condition(obj, "Ready").get("status") == status else None

        return eventually(ready, timeout, what=f"{name} Ready={status}")

    def topic(self, stream: str, name: str = "demo") -> dict[str, Any] | None:
        return strimzi(
            self.api, "kafkatopics", self.kafka_namespace, naming.topic_name(self.namespace, name, stream)
        )

    def connector(self, name: str = "demo") -> dict[str, Any] | None:
        return strimzi(
            self.api, "kafkaconnectors", self.kafka_namespace, naming.connector_name(self.namespace, name)
        )

    def delete(self, name: str = "demo") -> None:
        self.custom.delete_namespaced_custom_object(
            naming.GROUP, naming.VERSION, self.namespace, naming.PLURAL, name
        )
        eventually(lambda: not _exists(self, name), 180, what=f"{name} to be deleted")


def _exists(env: Env, name: str) -> bool:
    items = env.custom.list_namespaced_custom_object(
        naming.GROUP, naming.VERSION, env.namespace, naming.PLURAL
    )
    return any(item["metadata"]["name"] == name for item in items["items"])


def run_operator(namespace: str, *extra: str) -> KopfRunner:
    args = ["run", "--standalone", f"--namespace={namespace}", *extra, "-m", "fraudlake.operator.handlers"]
    return KopfRunner(args, timeout=120)


@pytest.fixture(scope="module")
def ch(clickhouse: ServiceRecord) -> Client:
    return connect(clickhouse.endpoints["dsn"])


@pytest.fixture
def env(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord
) -> Iterator[Env]:
    with FakeStrimzi(api) as fake:
        world = Env(api, kubectl, clickhouse.endpoints["dsn"], fake)
        with run_operator(world.namespace):
            yield world
            # Delete what the test left while the operator still runs, so finalizers are honoured.
            items = world.custom.list_namespaced_custom_object(
                naming.GROUP, naming.VERSION, world.namespace, naming.PLURAL
            )
            for item in items["items"]:
                world.delete(item["metadata"]["name"])


def tables(ch: Client, database: str) -> set[str]:
    return existing_objects(ch, database)


def all_tables_ready(obj: dict[str, Any]) -> str:
    """tablesReady when every object the pipeline's DDL creates is present: "n/n" (the count grows
    with every migration, so it comes from the DDL rather than from here)."""
    statements = render_statements(schema_params(reconcile.pipeline_from(obj)))
    expected = len(expected_objects(statements))
    return f"{expected}/{expected}"


def test_example_pipeline_becomes_ready(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord, ch: Client
) -> None:
    namespace, kafka_namespace = new_namespace(api, "fraud"), new_namespace(api, "kafka")
    database = f"fraud_demo_{uuid.uuid4().hex[:6]}"
    port = free_port()
    with FakeStrimzi(api) as fake, run_operator(namespace, f"--liveness=http://127.0.0.1:{port}/healthz"):
        fake.hold.add(naming.topic_name(namespace, "demo", "cards"))
        docs = example_documents(namespace, kafka_namespace, clickhouse.endpoints["dsn"], database)
        applied = kubectl.apply(docs)
        assert applied.returncode == 0, applied.stderr

        # Until Strimzi reports the cards topic, the pipeline is not Ready and says why.
        def waiting_for_cards() -> dict[str, Any] | None:
            topics = condition(get_pipeline(api, namespace, "demo"), "TopicsReady")
            return topics if "6/7 topics ready" in topics.get("message", "") else None

        topics_condition = eventually(waiting_for_cards, 120, what="TopicsReady=False with 6/7 ready")
        assert topics_condition["reason"] == "TopicsNotReady"
        assert "cards: not reconciled by Strimzi yet" in topics_condition["message"]
        assert condition(get_pipeline(api, namespace, "demo"), "Ready")["status"] == "False"

        fake.hold.clear()
        waited = kubectl("wait", "--for=condition=Ready", "fp/demo", "-n", namespace, "--timeout=180s")
        assert waited.returncode == 0, waited.stderr

        obj = get_pipeline(api, namespace, "demo")
        status = obj["status"]
        assert status["observedGeneration"] == obj["metadata"]["generation"]
        assert (status["topicsReady"], status["tablesReady"]) == ("7/7", all_tables_ready(obj))
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        # ModelHealthy comes from its own timer (drift reports), whenever the first one has run.
        conditions.pop("ModelHealthy", None)
        assert conditions == {
            "Ready": "True",
            "TopicsReady": "True",
            "ConnectorsReady": "True",
            "TablesReady": "True",
            "ScoringReady": "True",  # spec.scoring.replicas 0: the scorer is off, nothing to wait for
            "SourcesReady": "True",  # no spec.sources
        }
        assert all(c["lastTransitionTime"].endswith("Z") for c in status["conditions"])
        assert tables(ch, database) >= CORE_OBJECTS

        listed = kubectl("get", "fp", "-n", namespace)
        assert listed.stdout.split("\n")[1].split()[:5] == [
            "demo",
            "7/7",
            all_tables_ready(obj),
            "off",
            "True",
        ]

        transactions = strimzi(
            api, "kafkatopics", kafka_namespace, naming.topic_name(namespace, "demo", "transactions")
        )
        assert transactions["metadata"]["labels"][naming.STRIMZI_CLUSTER_LABEL] == "fraudlake"
        assert transactions["spec"] == {
            "topicName": naming.topic_name(namespace, "demo", "transactions"),
            "partitions": 6,
            "replicas": 3,
            "config": {"retention.ms": 604800000, "cleanup.policy": "delete", "min.insync.replicas": 2},
        }
        sink = strimzi(api, "kafkaconnectors", kafka_namespace, naming.connector_name(namespace, "demo"))
        assert sink["spec"]["config"]["aws.secret.access.key"] == (
            f"${{secrets:{kafka_namespace}/demo-lake-credentials:AWS_SECRET_ACCESS_KEY}}"
        )
        reasons = {reason for reason, _ in events(api, namespace, "demo")}
        assert {"TopicCreated", "ConnectorCreated", "TablesCreated"} <= reasons

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.status == 200

        deleted = kubectl("delete", "fp/demo", "-n", namespace, "--timeout=180s")
        assert deleted.returncode == 0, deleted.stderr
    # deletionPolicy Retain (the example's): children and tables stay.
    assert (
        strimzi(api, "kafkatopics", kafka_namespace, naming.topic_name(namespace, "demo", "users"))
        is not None
    )
    assert tables(ch, database) >= CORE_OBJECTS


def test_spec_update_updates_children(env: Env, ch: Client) -> None:
    created = env.create()
    database = created["spec"]["clickhouse"]["database"]
    env.wait_ready()
    env.patch(
        {
            "spec": {
                "kafka": {"topics": {"transactions": {"partitions": 8, "retention": "3d"}}},
                "lake": {"flush": {"maxRecords": 500}},
                "clickhouse": {"retentionDays": 400},
                "rules": [{"name": "burst_15m", "type": "SpendBurst", "windowMinutes": 15, "minCount": 3}],
            }
        }
    )
    ready = env.wait_ready()
    assert ready["metadata"]["generation"] == 2
    topic = env.topic("transactions")
    assert topic["spec"]["partitions"] == 8
    assert topic["spec"]["config"]["retention.ms"] == 3 * 86_400_000
    assert env.connector()["spec"]["config"]["file.max.records"] == "500"
    objects = tables(ch, database)
    assert "rule_burst_15m" in objects
    assert not {"rule_spend_burst_10m", "rule_velocity_5m"} & objects
    engine = ch.query(
        f"SELECT engine_full FROM system.tables WHERE database = '{database}' AND name = 'transactions'"
    )
    assert "toIntervalDay(400)" in engine.result_rows[0][0]


def test_drift_timer_recreates_deleted_children(env: Env, ch: Client) -> None:
    """The connector and a table come back by themselves; a deleted topic does not (a new topic
    restarts at offset 0: test_a_topic_gone_or_recreated_is_refused_until_its_old_id_is_accepted)."""
    database = env.create()["spec"]["clickhouse"]["database"]
    env.wait_ready()
    env.custom.delete_namespaced_custom_object(
        naming.STRIMZI_GROUP,
        naming.STRIMZI_VERSION,
        env.kafka_namespace,
        "kafkaconnectors",
        naming.connector_name(env.namespace, "demo"),
    )
    # Through the operator's own ClickHouse access, so the drop cannot land between a drift check's
    # "what is missing" and its "create if not exists" (the table would come back unreported).
    with operator_clickhouse(env.dsn) as client:
        client.command(f"DROP TABLE {database}.alerts")

    # A check may catch the deletions in one tick or several: gather every repair reported,
    # in DriftRepaired Events and in status.drift.
    wanted = {
        f"KafkaConnector {naming.connector_name(env.namespace, 'demo')}",
        f"ClickHouse {database}.alerts",
    }
    seen: set[str] = set()

    def all_repaired() -> bool:
        messages = [m for reason, m in events(env.api, env.namespace, "demo") if reason == "DriftRepaired"]
        seen.update(item for message in messages for item in message.split("; "))
        seen.update((env.get()["status"].get("drift") or {}).get("repaired", []))
        return wanted <= seen

    try:
        eventually(all_repaired, 90, what="repairs of the connector and the table")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; seen {seen}; status {env.get()['status']}") from None
    assert env.connector() is not None
    assert "alerts" in tables(ch, database)
    drift = env.wait_ready()["status"]["drift"]
    assert drift["repaired"]
    assert drift["lastRepairTime"] <= drift["lastCheckTime"]


def refusal(env: Env, *words: str) -> str:
    """The TopicRecreationRefused condition message once it says all of `words`."""

    def refused() -> str | None:
        topics_ready = condition(env.get(), "TopicsReady")
        message = topics_ready.get("message", "")
        wanted = topics_ready.get("reason") == "TopicRecreationRefused" and all(w in message for w in words)
        return message if wanted else None

    return eventually(refused, 90, what=f"TopicRecreationRefused saying {words}")


def test_a_topic_gone_or_recreated_is_refused_until_its_old_id_is_accepted(env: Env) -> None:
    env.create()
    env.wait_ready()
    cards = naming.topic_name(env.namespace, "demo", "cards")
    old_topic = env.topic("cards")
    assert old_topic is not None
    old_id = old_topic["status"]["topicId"]
    assert env.get()["status"]["topicIds"][cards] == old_id
    assert f"{cards}={old_id}" in (env.connector() or {})["spec"]["config"]["topic.ids"]

    env.custom.delete_namespaced_custom_object(
        naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, env.kafka_namespace, "kafkatopics", cards
    )
    annotation = f"{naming.ACCEPT_TOPIC_RECREATION_ANNOTATION}={old_id}"
    assert annotation in refusal(env, cards, "is gone", annotation)
    assert condition(env.get(), "Ready")["status"] == "False"
    warnings = [
        m for reason, m in events(env.api, env.namespace, "demo") if reason == "TopicRecreationRefused"
    ]
    assert any(annotation in message for message in warnings)
    time.sleep(3)  # drift checks every second: none of them recreates it
    assert env.topic("cards") is None
    assert (env.connector() or {})["spec"]["state"] == "stopped"  # nothing written under the old id
    assert condition(env.get(), "ConnectorsReady")["reason"] == "SinkStoppedForTopicRecreation"

    # Someone recreates it by hand: Kafka gives the topic a new id, which is refused just the same.
    recreated = {key: old_topic[key] for key in ("apiVersion", "kind", "spec")}
    recreated["metadata"] = {key: old_topic["metadata"][key] for key in ("name", "namespace", "labels")}
    env.apply(recreated)
    new_id = eventually(
        lambda: (env.topic("cards") or {}).get("status", {}).get("topicId"), 60, what="new id"
    )
    assert new_id != old_id
    refusal(env, "behind the operator's back", new_id, annotation)
    assert env.get()["status"]["topicIds"][cards] == old_id  # the old incarnation stays recorded
    connector = env.connector() or {}
    assert f"{cards}={old_id}" in connector["spec"]["config"]["topic.ids"]
    assert connector["spec"]["state"] == "stopped"

    env.patch({"metadata": {"annotations": {naming.ACCEPT_TOPIC_RECREATION_ANNOTATION: old_id}}})
    ready = env.wait_ready()
    assert ready["status"]["topicIds"][cards] == new_id
    eventually(
        lambda: f"{cards}={new_id}" in (env.connector() or {})["spec"]["config"]["topic.ids"],
        60,
        what="the sink naming the topic's objects by its new id",
    )
    assert (env.connector() or {})["spec"]["state"] == "running"
    reasons = [reason for reason, _ in events(env.api, env.namespace, "demo")]
    assert "TopicRecreationAccepted" in reasons


def test_pause_and_resume(env: Env) -> None:
    env.create()
    env.wait_ready()
    env.patch({"metadata": {"annotations": {naming.PAUSE_ANNOTATION: "true"}}})
    paused = eventually(lambda: condition(env.get(), "ReconciliationPaused"), 90, what="ReconciliationPaused")
    assert paused["status"] == "True"

    env.patch({"spec": {"kafka": {"topics": {"transactions": {"partitions": 5}}}}})
    # (The connector: a deleted topic is not repaired but refused, paused or not.)
    env.custom.delete_namespaced_custom_object(
        naming.STRIMZI_GROUP,
        naming.STRIMZI_VERSION,
        env.kafka_namespace,
        "kafkaconnectors",
        naming.connector_name(env.namespace, "demo"),
    )
    # Several drift intervals pass: a paused pipeline is neither updated nor repaired.
    with pytest.raises(AssertionError, match="timed out"):
        eventually(lambda: env.topic("transactions")["spec"]["partitions"] == 5 or env.connector(), 5)

    env.patch({"metadata": {"annotations": {naming.PAUSE_ANNOTATION: None}}})
    eventually(lambda: not condition(env.get(), "ReconciliationPaused"), 90, what="pause condition removed")
    ready = env.wait_ready()
    assert ready["status"]["observedGeneration"] == 2
    assert env.topic("transactions")["spec"]["partitions"] == 5
    assert env.connector() is not None


def test_delete_policy_delete_removes_children_and_database(env: Env, ch: Client) -> None:
    database = env.create(deletionPolicy="Delete")["spec"]["clickhouse"]["database"]
    env.wait_ready()
    assert tables(ch, database) >= CORE_OBJECTS
    env.delete()
    assert env.topic("transactions") is None
    assert env.connector() is None
    assert tables(ch, database) == set()


def _owner(database: str, dsn: str) -> tuple[str, str, str] | None:
    with operator_clickhouse(dsn) as client:
        rows = client.query(
            f"SELECT namespace, name, uid FROM {database}._fraudlake_owner ORDER BY claimed_at LIMIT 1"
        ).result_rows
    return tuple(rows[0]) if rows else None


def test_a_database_named_by_two_pipelines_stays_with_the_first(env: Env, ch: Client) -> None:
    """Two pipelines name one database: the first owns it (recorded in the database); the second is
    refused with a reason and touches nothing (not its rule views, not the first's), and deleting it
    with deletionPolicy Delete drops nothing: the first's data and readiness survive."""
    database = env.create("first", deletionPolicy="Delete")["spec"]["clickhouse"]["database"]
    first = env.wait_ready("first")
    assert _owner(database, env.dsn) == (env.namespace, "first", first["metadata"]["uid"])
    with operator_clickhouse(env.dsn) as client:
        client.command(f"INSERT INTO {database}.transactions (txn_id, card_id) VALUES ('kept', 'c1')")

    other_rule = {"name": "second_only", "type": "Velocity", "windowMinutes": 1, "minCount": 2}
    env.create("second", deletionPolicy="Delete", clickhouse={"database": database}, rules=[other_rule])

    def refused() -> dict[str, Any] | None:
        # Ready names the first part that is not ready: the refusal, once Strimzi has made the topics.
        obj = env.get("second")
        return obj if condition(obj, "Ready").get("reason") == "DatabaseOwnedByOther" else None

    second = eventually(refused, 120, what="second: Ready=False, DatabaseOwnedByOther")
    refusal = condition(second, "TablesReady")
    assert (refusal["status"], refusal["reason"]) == ("False", "DatabaseOwnedByOther")
    assert f"belongs to FraudPipeline {env.namespace}/first" in refusal["message"]
    assert condition(second, "Ready")["status"] == "False"
    assert "DatabaseOwnedByOther" in {reason for reason, _ in events(env.api, env.namespace, "second")}
    time.sleep(3)  # drift ticks (1 s) of both pipelines: no flapping between their rules
    objects = tables(ch, database)
    assert "rule_second_only" not in objects
    assert {"rule_spend_burst_10m", "rule_velocity_5m"} <= objects
    assert condition(env.get("first"), "Ready")["status"] == "True"
    assert _owner(database, env.dsn) == (env.namespace, "first", first["metadata"]["uid"])

    env.delete("second")
    kept = [m for reason, m in events(env.api, env.namespace, "second") if reason == "DatabaseNotDropped"]
    assert kept, events(env.api, env.namespace, "second")
    assert f"belongs to FraudPipeline {env.namespace}/first" in kept[0]
    with operator_clickhouse(env.dsn) as client:
        rows = client.query(f"SELECT count() FROM {database}.transactions WHERE txn_id = 'kept'").result_rows
    assert rows == [(1,)]
    assert tables(ch, database) >= CORE_OBJECTS
    assert condition(env.get("first"), "Ready")["status"] == "True"

    env.delete("first")  # its own database: dropped
    assert tables(ch, database) == set()


def test_an_existing_database_without_an_owner_is_adopted(env: Env, ch: Client) -> None:
    """A database made before owners were recorded (or by hand) becomes the first claimant's."""
    manifest = env.pipeline("demo", deletionPolicy="Delete")
    database = manifest["spec"]["clickhouse"]["database"]
    with operator_clickhouse(env.dsn) as client:
        client.command(f"CREATE DATABASE {database}")
    env.apply([dsn_secret(env.namespace, env.dsn), manifest])
    adopted = env.wait_ready()
    assert _owner(database, env.dsn) == (env.namespace, "demo", adopted["metadata"]["uid"])
    assert "DatabaseAdopted" in {reason for reason, _ in events(env.api, env.namespace, "demo")}
    env.delete()
    assert tables(ch, database) == set()


def test_pipeline_through_the_local_clickhouse_server(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], tmp_path: Path
) -> None:
    """The production shape: the Secret holds an http:// DSN and ClickHouse is another process (the
    local server on a chDB directory of its own); the tables are made and dropped through it."""
    server = LocalClickHouseServer(tmp_path / "data", tmp_path / "server.log", password="operator-test")
    with server, FakeStrimzi(api) as fake:
        world = Env(api, kubectl, server.dsn, fake)
        with run_operator(world.namespace):
            database = world.create(deletionPolicy="Delete")["spec"]["clickhouse"]["database"]
            ready = world.wait_ready()
            assert ready["status"]["tablesReady"] == all_tables_ready(ready)
            over_http = connect(server.dsn)
            assert tables(over_http, database) >= CORE_OBJECTS
            world.delete()
            assert tables(over_http, database) == set()


def test_retained_topic_is_never_shrunk(env: Env, ch: Client) -> None:
    env.create()  # deletionPolicy Retain; transactions has 3 partitions
    env.wait_ready()
    env.delete()
    assert env.topic("transactions")["spec"]["partitions"] == 3

    # A new pipeline of the same name adopts the retained topics; asking for fewer partitions is
    # refused by the operator (the CRD's transition rule cannot see a previous object here).
    env.apply(env.pipeline("demo", kafka={"topics": {"transactions": {"partitions": 2}}}))

    def refused() -> dict[str, Any] | None:
        topics = condition(env.get(), "TopicsReady")
        return topics if topics.get("reason") == "PartitionShrinkRefused" else None

    topics = eventually(refused, 90, what="PartitionShrinkRefused")
    assert "has 3 partitions, the spec asks for 2" in topics["message"]
    assert condition(env.get(), "Ready")["status"] == "False"
    assert env.topic("transactions")["spec"]["partitions"] == 3


def test_missing_dsn_secret_is_reported_then_recovered(env: Env) -> None:
    env.apply(env.pipeline("nosecret", clickhouse={"endpointSecret": {"name": "not-yet"}}))

    def secret_missing() -> dict[str, Any] | None:
        tables_condition = condition(env.get("nosecret"), "TablesReady")
        return tables_condition if tables_condition.get("reason") == "SecretNotFound" else None

    missing = eventually(secret_missing, 90, what="SecretNotFound")
    assert f"Secret {env.namespace}/not-yet not found" in missing["message"]
    env.apply(dsn_secret(env.namespace, env.dsn, name="not-yet"))
    env.wait_ready("nosecret")


def test_streaming_ingest_on_chdb_is_refused_with_a_reason(env: Env, ch: Client) -> None:
    created = env.create(kafka={"bootstrapServers": "127.0.0.1:9092"}, clickhouse={"streamingIngest": True})
    database = created["spec"]["clickhouse"]["database"]

    def refused() -> dict[str, Any] | None:
        tables_condition = condition(env.get(), "TablesReady")
        return tables_condition if tables_condition.get("reason") == "StreamingIngestUnsupported" else None

    assert "chDB cannot host the Kafka-engine table" in eventually(refused, 90, what="refusal")["message"]
    assert condition(env.get(), "Ready")["status"] == "False"
    assert "transactions_queue" not in tables(ch, database)


def test_operator_restarted_mid_reconcile_converges(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord, ch: Client
) -> None:
    with FakeStrimzi(api) as fake:
        env = Env(api, kubectl, clickhouse.endpoints["dsn"], fake)
        fake.hold.add(naming.connector_name(env.namespace, "demo"))
        with run_operator(env.namespace):
            database = env.create()["spec"]["clickhouse"]["database"]
            eventually(
                lambda: condition(env.get(), "ConnectorsReady").get("reason") == "ConnectorNotReady",
                90,
                what="ConnectorsReady False for the held connector",
            )
            assert condition(env.get(), "Ready")["status"] == "False"
        # The operator is gone mid-reconcile; meanwhile a topic disappears (its loss accepted: the
        # operator recreates no topic it had without that) and the spec changes.
        users = naming.topic_name(env.namespace, "demo", "users")
        old_id = env.get()["status"]["topicIds"][users]
        env.custom.delete_namespaced_custom_object(
            naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, env.kafka_namespace, "kafkatopics", users
        )
        env.patch(
            {
                "metadata": {"annotations": {naming.ACCEPT_TOPIC_RECREATION_ANNOTATION: old_id}},
                "spec": {"kafka": {"topics": {"alerts": {"partitions": 8}}}},
            }
        )
        fake.hold.clear()
        with run_operator(env.namespace):
            env.wait_ready()
            assert env.topic("users") is not None
            assert env.topic("alerts")["spec"]["partitions"] == 8
            assert tables(ch, database) >= CORE_OBJECTS
            env.delete()
