"""Database ownership: the pure decisions (claim, adopt, reconcile, refuse, drop) and the statements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fraudlake.operator import ownership
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.ownership import DatabaseOwner, Decision
from fraudlake.operator.reconcile import pipeline_from
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[3] / "operator" / "examples" / "pipeline.yaml"
ME = DatabaseOwner("fraud", "demo", "uid-1")
OTHER = DatabaseOwner("fraud", "other", "uid-2")


def test_a_missing_database_is_created_and_claimed() -> None:
    assert ownership.decide(False, None, ME) is Decision.CREATE


def test_an_unowned_database_is_adopted() -> None:
    assert ownership.decide(True, None, ME) is Decision.ADOPT


def test_the_owner_reconciles_its_database_even_after_being_created_again() -> None:
    assert ownership.decide(True, ME, ME) is Decision.OURS
    # Deleted with Retain and created again: a new uid, the same pipeline, its data back.
    assert ownership.decide(True, ME, DatabaseOwner("fraud", "demo", "uid-3")) is Decision.OURS


@pytest.mark.parametrize(
    "owner", [OTHER, DatabaseOwner("elsewhere", "demo", "uid-1")], ids=["other-name", "other-namespace"]
)
def test_another_pipelines_database_is_refused(owner: DatabaseOwner) -> None:
    assert ownership.decide(True, owner, ME) is Decision.FOREIGN


def test_only_the_owner_may_drop() -> None:
    assert ownership.may_drop(ME, ME)
    assert not ownership.may_drop(OTHER, ME)
    assert not ownership.may_drop(None, ME)  # no recorded owner: not provably ours


def test_messages_name_the_owner_and_the_way_out() -> None:
    refusal = ownership.refusal_message("fraud_demo", OTHER)
    assert "fraud/other (uid uid-2)" in refusal
    assert "spec.clickhouse.database" in refusal
    assert "belongs to FraudPipeline fraud/other" in ownership.kept_message("fraud_demo", OTHER)
    assert "no recorded owner" in ownership.kept_message("fraud_demo", None)


def test_statements_quote_nothing_by_hand_and_refuse_unsafe_names() -> None:
    sneaky = DatabaseOwner("ns", "x\"}', 'y", "u")
    claim = ownership.claim_statement("fraud_demo", sneaky)
    header, row = claim.split("\n")
    assert header == "INSERT INTO fraud_demo._fraudlake_owner (namespace, name, uid) FORMAT JSONEachRow"
    assert json.loads(row) == {"namespace": "ns", "name": "x\"}', 'y", "uid": "u"}
    assert "ORDER BY claimed_at, namespace, name LIMIT 1" in ownership.owner_query("fraud_demo")
    assert ownership.owner_table_statement("fraud_demo").startswith(
        "CREATE TABLE IF NOT EXISTS fraud_demo._fraudlake_owner"
    )
    for statement in (
        ownership.owner_table_statement,
        ownership.owner_query,
        ownership.create_database_statement,
    ):
        with pytest.raises(ValueError, match="not a safe ClickHouse identifier"):
            statement("x; DROP DATABASE y")


def test_the_pipeline_carries_its_uid_into_the_owner() -> None:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"] |= {"namespace": "fraud", "uid": "0b5c", "generation": 2}
    pipeline = pipeline_from(manifest)
    assert ownership.owner_of(pipeline) == DatabaseOwner("fraud", manifest["metadata"]["name"], "0b5c")
    bare = Pipeline("fraud", "demo", 1, FraudPipelineSpec.parse(manifest["spec"]))
    assert ownership.owner_of(bare) == DatabaseOwner("fraud", "demo", "")
