"""spec.sources → Debezium KafkaConnector and compacted per-table KafkaTopics (pure builders)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fraudlake.clickhouse import migrations
from fraudlake.operator.builders import Pipeline, schema_params
from fraudlake.operator.sources import (
    POSTGRES_CONNECTOR_CLASS,
    literal_settings,
    replication_name,
    source_connector_manifest,
    source_topic_manifests,
)
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit


def spec(**source: Any) -> FraudPipelineSpec:
    return FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka", "namespace": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect", "namespace": "streams"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
            "sources": [
                {
                    "name": "bank",
                    "databaseSecret": {"name": "bank-db"},
                    "tables": ["public.users", "public.cards"],
                    **source,
                }
            ],
        }
    )


def pipeline(**source: Any) -> Pipeline:
    return Pipeline("fraud", "demo", 2, spec(**source))


def test_connector_is_debezium_postgres_with_pgoutput_next_to_the_connect_cluster() -> None:
    p = pipeline(snapshotMode="no_data")
    (source,) = p.spec.sources
    manifest = source_connector_manifest(p, source)
    assert manifest["kind"] == "KafkaConnector"
    assert manifest["metadata"]["name"] == "fraudlake.fraud.demo.cdc-bank"
    assert manifest["metadata"]["namespace"] == "streams"
    assert manifest["metadata"]["labels"][naming.STRIMZI_CLUSTER_LABEL] == "connect"
    assert manifest["metadata"]["labels"][naming.PIPELINE_LABEL] == "demo"
    assert manifest["spec"]["class"] == POSTGRES_CONNECTOR_CLASS
    assert manifest["spec"]["tasksMax"] == 1
    config = manifest["spec"]["config"]
    assert config["plugin.name"] == "pgoutput"
    assert config["snapshot.mode"] == "no_data"
    assert config["table.include.list"] == "public.users,public.cards"
    assert config["topic.prefix"] == "fraudlake.fraud.demo.cdc.bank"
    assert config["slot.name"] == config["publication.name"] == "fraudlake_fraud_demo_bank"
    assert config["publication.autocreate.mode"] == "filtered"
    assert config["tombstones.on.delete"] == "true"


def test_database_settings_are_secret_references_never_values() -> None:
    p = pipeline()
    config = source_connector_manifest(p, p.spec.sources[0])["spec"]["config"]
    assert config["database.password"] == "${secrets:streams/bank-db:password}"
    assert config["database.hostname"] == "${secrets:streams/bank-db:host}"
    assert config["database.user"] == "${secrets:streams/bank-db:user}"
    custom = pipeline(databaseSecret={"name": "core", "namespace": "bank", "passwordKey": "pw"})
    config = source_connector_manifest(custom, custom.spec.sources[0])["spec"]["config"]
    assert config["database.password"] == "${secrets:bank/core:pw}"


def test_literal_settings_are_used_as_given_for_local_runs() -> None:
    p = pipeline()
    values = {"host": "127.0.0.1", "port": 5433, "database": "bank", "user": "u", "password": "pw"}
    config = source_connector_manifest(p, p.spec.sources[0], literal_settings(values))["spec"]["config"]
    assert (config["database.hostname"], config["database.port"], config["database.password"]) == (
        "127.0.0.1",
        "5433",
        "pw",
    )


def test_one_compacted_topic_per_table_named_as_debezium_writes_it() -> None:
    manifests = source_topic_manifests(pipeline(topic={"partitions": 2, "replicas": 1}))
    assert [m["spec"]["topicName"] for m in manifests] == [
        "fraudlake.fraud.demo.cdc.bank.public.users",
        "fraudlake.fraud.demo.cdc.bank.public.cards",
    ]
    for manifest in manifests:
        assert manifest["metadata"]["namespace"] == "kafka"
        assert manifest["metadata"]["labels"][naming.STRIMZI_CLUSTER_LABEL] == "kafka"
        assert manifest["spec"]["partitions"] == 2
        assert manifest["spec"]["config"]["cleanup.policy"] == "compact"
        assert manifest["spec"]["config"]["retention.ms"] == -1


def test_no_sources_no_cdc_children() -> None:
    bare = Pipeline("fraud", "demo", 1, spec().model_copy(update={"sources": ()}))
    assert source_topic_manifests(bare) == []


def test_replication_slot_names_stay_valid_postgres_identifiers() -> None:
    long_pipeline = Pipeline("a-very-long-namespace-name-for-tests", "x" * 40, 1, spec())
    name = replication_name(long_pipeline, long_pipeline.spec.sources[0])
    assert len(name) <= 63
    assert name.replace("_", "").isalnum()
    assert name.islower()
    other = Pipeline("a-very-long-namespace-name-for-tests", "x" * 39 + "y", 1, spec())
    assert replication_name(other, other.spec.sources[0]) != name


@pytest.mark.parametrize("table", ["cards", "public.Cards", "public.cards;drop", "a.b.c"])
def test_tables_must_be_schema_dot_table(table: str) -> None:
    with pytest.raises(ValidationError):
        spec(tables=[table])


def test_snapshot_mode_is_one_debezium_knows() -> None:
    with pytest.raises(ValidationError):
        spec(snapshotMode="sometimes")


def test_bank_tables_only_for_a_pipeline_with_sources() -> None:
    with_sources = migrations.expected_objects(migrations.render_statements(schema_params(pipeline())))
    bare = Pipeline("fraud", "demo", 1, spec().model_copy(update={"sources": ()}))
    without = migrations.expected_objects(migrations.render_statements(schema_params(bare)))
    cdc_tables = ["bank_cards", "bank_cards_history", "bank_users", "bank_users_history", "cdc_load_state"]
    assert [name for name in with_sources if name not in without] == cdc_tables
