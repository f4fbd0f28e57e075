"""Schema definitions, generated files, compatibility rules and the Connect JSON envelope."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest

from fraudlake.schemas import ALL_RECORDS, TRANSACTIONS, Field, FieldType, to_arrow_schema, to_avro
from fraudlake.schemas.compat import breaking_changes
from fraudlake.schemas.envelope import JsonEncoder
from fraudlake.schemas.export import (
    GENERATED_DIR,
    SchemaPublishError,
    check_publishable,
    published_avro,
    stale_files,
)
from fraudlake.schemas.formats import to_json_schema

pytestmark = pytest.mark.unit


def test_checked_in_files_match_the_definitions() -> None:
    assert stale_files() == [], "run `uv run fraudlake schemas export` and commit src/schemas/generated/"


@pytest.mark.parametrize("name", sorted(ALL_RECORDS))
def test_definitions_are_compatible_with_every_published_version(name: str) -> None:
    published = published_avro(name)
    assert published, f"no published Avro schema for {name}"
    for version, avro in published.items():
        assert breaking_changes(avro, to_avro(ALL_RECORDS[name])) == [], f"{name} breaks v{version} readers"


def test_card_number_and_cvv_are_never_part_of_a_record() -> None:
    for record in ALL_RECORDS.values():
        kaggle = {fld.kaggle for fld in record.fields}
        assert not {"Card Number", "CVV"} & kaggle
        assert not {"card_number", "cvv", "pan"} & set(record.names)


def _avro() -> dict:
    return copy.deepcopy(to_avro(TRANSACTIONS))


def test_removing_a_field_breaks_readers() -> None:
    new = _avro()
    new["fields"] = [f for f in new["fields"] if f["name"] != "mcc"]
    assert breaking_changes(_avro(), new) == ["field 'mcc' was removed"]


def test_changing_a_type_breaks_readers() -> None:
    new = _avro()
    next(f for f in new["fields"] if f["name"] == "amount")["type"] = "string"
    assert breaking_changes(_avro(), new) == ['field \'amount\' changed type from "double" to "string"']


def test_making_a_nullable_field_required_breaks_readers() -> None:
    new = _avro()
    field = next(f for f in new["fields"] if f["name"] == "errors")
    field["type"] = "string"
    del field["default"]
    assert "field 'errors' changed type" in breaking_changes(_avro(), new)[0]


def test_a_new_required_field_breaks_readers_and_a_default_fixes_it() -> None:
    new = _avro()
    new["fields"].append({"name": "channel", "type": "string"})
    assert breaking_changes(_avro(), new) == ["new field 'channel' has no default"]
    new["fields"][-1]["default"] = "card"
    assert breaking_changes(_avro(), new) == []


def test_export_refuses_to_republish_a_version_with_other_fields(tmp_path: Path) -> None:
    shutil.copytree(GENERATED_DIR, tmp_path / "generated")
    extra = Field("channel", FieldType.STRING, "new", nullable=True)
    changed = replace(TRANSACTIONS, fields=(*TRANSACTIONS.fields, extra))
    with pytest.raises(SchemaPublishError, match="bump its version"):
        check_publishable(changed, tmp_path / "generated")
    check_publishable(replace(changed, version=2), tmp_path / "generated")  # additive + bumped: fine


def test_export_refuses_a_breaking_change_even_with_a_new_version(tmp_path: Path) -> None:
    shutil.copytree(GENERATED_DIR, tmp_path / "generated")
    fields = tuple(f for f in TRANSACTIONS.fields if f.name != "mcc")
    with pytest.raises(SchemaPublishError, match="'mcc' was removed"):
        check_publishable(replace(TRANSACTIONS, version=2, fields=fields), tmp_path / "generated")


def _sample_table() -> pa.Table:
    row = {
        "txn_id": "0" * 32,
        "event_ts": 1_030_861_260_000,
        "user_id": "0",
        "card_id": "0-0",
        "merchant_id": "-727612092139916043",
        "card_token": "tok_" + "a" * 32,
        "user": 0,
        "card": 0,
        "year": 2002,
        "month": 9,
        "day": 1,
        "time": "06:21",
        "amount": -88.0,
        "use_chip": "Swipe Transaction",
        "merchant_name": -727612092139916043,
        "merchant_city": 'Quote "City"\\',
        "merchant_state": None,
        "zip": "02110",
        "mcc": 5411,
        "errors": "Bad PIN,Technical Glitch\n",
        "is_fraud": True,
    }
    return pa.Table.from_pylist(
        [row, {**row, "amount": 0.1 + 0.2, "errors": None}], to_arrow_schema(TRANSACTIONS)
    )


def test_payload_json_matches_the_json_schema_and_round_trips() -> None:
    table = _sample_table()
    documents = JsonEncoder(TRANSACTIONS, envelope=False).encode(table)
    for doc, expected in zip(documents, table.to_pylist(), strict=True):
        payload = json.loads(doc)
        jsonschema.validate(payload, to_json_schema(TRANSACTIONS))
        expected["event_ts"] = int(expected["event_ts"].timestamp() * 1000)
        assert payload == expected


def test_connect_envelope_carries_the_schema_and_the_payload() -> None:
    doc = json.loads(JsonEncoder(TRANSACTIONS).encode(_sample_table())[0])
    assert set(doc) == {"schema", "payload"}
    assert doc["schema"]["type"] == "struct"
    assert doc["schema"]["name"] == "io.fraudlake.Transaction"
    fields = {f["field"]: f for f in doc["schema"]["fields"]}
    assert fields["event_ts"] == {
        "type": "int64",
        "name": "org.apache.kafka.connect.data.Timestamp",
        "version": 1,
        "field": "event_ts",
        "optional": False,
    }
    assert fields["errors"]["optional"] is True
    assert list(doc["payload"]) == TRANSACTIONS.names


def test_arrow_schema_marks_only_nullable_fields_nullable() -> None:
    schema = to_arrow_schema(TRANSACTIONS)
    assert {f.name for f in schema if f.nullable} == {"merchant_state", "zip", "errors"}
    assert schema.field("event_ts").type == pa.timestamp("ms", tz="UTC")
