"""The spec models parse real manifests, and the committed CRD is exactly their rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from fraudlake.operator import crd_schema
from fraudlake.pipeline.spec import SEED_RULES, FraudPipelineSpec

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[3] / "operator" / "examples"
MINIMAL = {
    "kafka": {"clusterRef": {"name": "kafka"}},
    "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
    "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
}


def _crd_schema() -> dict[str, Any]:
    return crd_schema.crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_the_committed_crd_is_the_rendering_of_the_models() -> None:
    assert crd_schema.packaged_crd_yaml() == crd_schema.render_crd_yaml(), (
        "operator/crd/fraudpipeline.yaml is stale: run `fraudlake operator crd --write`"
    )


def test_crd_names_printer_columns_and_status_subresource() -> None:
    crd = yaml.safe_load(crd_schema.packaged_crd_yaml())
    names = crd["spec"]["names"]
    assert (names["shortNames"], names["categories"]) == (["fp"], ["fraudlake"])
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Topics", "Tables", "Scoring", "Ready", "Model", "Reason", "Age"]


def test_crd_schema_is_structural() -> None:
    nodes = _walk(_crd_schema())
    for forbidden in ("$ref", "anyOf", "title", "$defs"):
        assert not [n for n in nodes if forbidden in n], forbidden
    # Kubernetes takes additionalProperties only as a map's value schema, never beside properties.
    maps = [n for n in nodes if "additionalProperties" in n]
    assert all(isinstance(n["additionalProperties"], dict) and "properties" not in n for n in maps), maps
    for node in nodes:
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True
            assert "minimum" in node


def test_every_spec_field_has_a_description_for_kubectl_explain() -> None:
    spec = _crd_schema()["properties"]["spec"]
    undocumented = []

    def visit(node: dict[str, Any], path: str) -> None:
        for name, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                undocumented.append(f"{path}.{name}")
            visit(prop, f"{path}.{name}")
        if "items" in node:
            visit(node["items"], f"{path}[]")

    visit(spec, "spec")
    assert undocumented == []


def test_cel_rules_cover_the_cross_field_constraints() -> None:
    messages = [v["message"] for n in _walk(_crd_schema()) for v in n.get("x-kubernetes-validations", [])]
    for expected in (
        "topic replicas must not exceed kafka.brokers",
        "rule names must be unique",
        "partitions can only grow",
        "clickhouse.database is immutable",
        "lake.endpoint (an S3-compatible store) needs lake.credentialsSecret",
        "scoring.thresholds.decline must be greater than scoring.thresholds.review",
        "scoring.thresholds.decline must be greater than scoring.threshold (the deprecated name of the "
        "review threshold)",
        "scoring.resources.requests.cpu must not exceed scoring.resources.limits.cpu",
        "scoring.resources.requests.memory must not exceed scoring.resources.limits.memory",
    ):
        assert expected in messages


def test_delete_policy_is_chosen_at_creation_only() -> None:
    """A transition rule (it reads oldSelf, so the API server runs it on updates only; the transitions
    themselves are tested against the real API server). The description says so for kubectl explain."""
    spec = _crd_schema()["properties"]["spec"]
    rules = {v["fieldPath"]: v for v in spec["x-kubernetes-validations"] if "fieldPath" in v}
    rule = rules[".deletionPolicy"]
    assert "oldSelf" in rule["rule"]
    assert rule["message"].startswith("deletionPolicy can change to Delete only at creation")
    description = spec["properties"]["deletionPolicy"]["description"]
    assert "only when the pipeline is created" in description
    assert "only a database this pipeline owns" in description


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = FraudPipelineSpec.parse(MINIMAL)
    assert spec.kafka.topics.transactions.partitions == 6
    assert spec.kafka.topics.cards.cleanup_policy == "compact"
    assert spec.kafka.topics.users.retention == "infinite"
    assert spec.lake.prefix == "fraudlake"
    assert spec.lake.flush.max_records == 10000
    assert spec.clickhouse.retention_days == 0
    assert spec.clickhouse.endpoint_secret.key == "dsn"
    assert spec.rules == SEED_RULES
    assert spec.deletion_policy == "Retain"


def test_a_partial_stream_gets_the_same_defaults_as_an_absent_one() -> None:
    # The API server defaults an absent stream from the stream's default and a partial one field by
    # field; both must give the same topic, or `{replicas: 1}` would silently change partitions.
    absent = FraudPipelineSpec.parse(MINIMAL).kafka.topics
    for stream, default in absent.items():
        partial = {
            **MINIMAL,
            "kafka": {**MINIMAL["kafka"], "topics": {stream: {"replicas": default.replicas}}},
        }
        assert getattr(FraudPipelineSpec.parse(partial).kafka.topics, stream) == default, stream


def test_crd_defaults_equal_model_defaults() -> None:
    # Defaulting happens in the API server from the CRD; the operator parses with the models.
    # Both must agree, e.g. the defaulted `topics` object equals the model's default topics.
    spec_schema = _crd_schema()["properties"]["spec"]
    topics_default = spec_schema["properties"]["kafka"]["properties"]["topics"]["default"]
    model = FraudPipelineSpec.parse(MINIMAL)
    assert topics_default == model.kafka.topics.model_dump(by_alias=True, exclude_none=True)
    assert spec_schema["properties"]["rules"]["default"] == [r.model_dump(by_alias=True) for r in SEED_RULES]


def test_examples_parse_and_validate_against_the_crd_schema() -> None:
    manifest = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())
    FraudPipelineSpec.parse(manifest["spec"])
    # OpenAPI v3.0 schemas are JSON Schema draft 4 (boolean exclusiveMinimum/Maximum).
    jsonschema.Draft4Validator(_crd_schema()["properties"]["spec"]).validate(manifest["spec"])
    secrets = [
        d for d in yaml.safe_load_all((EXAMPLES / "secrets.yaml").read_text()) if d["kind"] == "Secret"
    ]
    assert {s["metadata"]["name"] for s in secrets} == {"demo-clickhouse", "demo-lake-credentials"}
    assert all(v == "REPLACE_ME" or "REPLACE_ME" in v for s in secrets for v in s["stringData"].values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kafka": {"clusterRef": {"name": "Kafka_1"}}}, "String should match pattern"),
        (
            {"clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud-db"}},
            "String should match pattern",
        ),
        ({"deletionPolicy": "Orphan"}, "Input should be 'Retain' or 'Delete'"),
        (
            {"kafka": {"clusterRef": {"name": "k"}, "topics": {"payments": {}}}},
            "Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_specs_fail_to_parse(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FraudPipelineSpec.parse({**MINIMAL, **change})


@pytest.mark.parametrize("prefix", ["../other-tenant", "fraud/../x", "fraud/./x", ".", "a/..", "a//b"])
def test_a_lake_prefix_cannot_climb_into_another_tenants(prefix: str) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        FraudPipelineSpec.parse({**MINIMAL, "lake": {**MINIMAL["lake"], "prefix": prefix}})


@pytest.mark.parametrize("prefix", ["pipelines/fraud/demo", ".hidden/x", "v1.2/raw", "a_b-c"])
def test_ordinary_lake_prefixes_pass(prefix: str) -> None:
    spec = FraudPipelineSpec.parse({**MINIMAL, "lake": {**MINIMAL["lake"], "prefix": prefix}})
    assert spec.lake.prefix == prefix
