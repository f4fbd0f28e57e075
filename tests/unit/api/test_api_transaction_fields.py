"""One transaction input contract: the feature spec names the fields the model reads
(`fraudlake.ml.features.INPUT_FIELDS`), they are fields of the platform's transaction record, a scoring
request requires exactly those of them the record never leaves null, and every reader of transactions
for the model (training data, the online state, its cold start and topic feed, the demo) takes them
from the spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fraudlake.api.feed import COLD_START_COLUMNS, decode_transaction
from fraudlake.local.demo.serve import _transaction_json
from fraudlake.ml import data
from fraudlake.ml.features import EVENT_MS, EVENT_TS, HISTORY_FIELDS, INPUT_FIELDS, LABEL, TXN_ID
from fraudlake.schemas.records import TRANSACTIONS
from fraudlake.scoring.core import state_record
from fraudlake.scoring.models import EXAMPLE_TRANSACTION, TransactionIn

pytestmark = pytest.mark.unit


def test_the_request_model_is_the_platform_transaction_record() -> None:
    fields = TransactionIn.model_fields
    assert set(fields) == set(TRANSACTIONS.names)
    for field in TRANSACTIONS.fields:
        assert fields[field.name].description.startswith(field.doc)
        if field.nullable:
            assert not fields[field.name].is_required()


def test_the_model_reads_fields_of_the_record_and_a_request_requires_those_never_null() -> None:
    assert len(set(HISTORY_FIELDS)) == len(HISTORY_FIELDS)
    assert set(HISTORY_FIELDS) <= set(TRANSACTIONS.names)
    required = {name for name, field in TransactionIn.model_fields.items() if field.is_required()}
    assert required == {name for name in INPUT_FIELDS if not TRANSACTIONS.field(name).nullable}


def test_training_data_and_the_cold_start_read_the_spec_s_fields() -> None:
    assert data.COLUMNS == HISTORY_FIELDS
    assert set(COLD_START_COLUMNS) == (set(HISTORY_FIELDS) - {EVENT_TS}) | {EVENT_MS}


def test_a_scored_transaction_joins_the_state_with_the_spec_s_fields() -> None:
    record = state_record(TransactionIn.model_validate(EXAMPLE_TRANSACTION))
    assert set(record) == (set(INPUT_FIELDS) - {EVENT_TS}) | {TXN_ID, EVENT_MS}
    assert record[EVENT_MS] == 1_552_589_520_000  # 2019-03-14T18:52:00Z


def test_a_topic_message_needs_every_required_field() -> None:
    message = EXAMPLE_TRANSACTION | {"merchant_state": None, "errors": None}
    assert decode_transaction(json.dumps({"schema": {}, "payload": message}).encode()) == message
    for name in INPUT_FIELDS:
        partial = {k: v for k, v in message.items() if k != name}
        decoded = decode_transaction(json.dumps(partial).encode())
        assert (decoded is None) == TransactionIn.model_fields[name].is_required(), name


def test_the_demo_posts_the_id_and_the_spec_s_inputs_only() -> None:
    row = {name: EXAMPLE_TRANSACTION.get(name) for name in TRANSACTIONS.names}
    row |= {EVENT_TS: datetime(2019, 3, 14, 18, 52, tzinfo=UTC), LABEL: True, "fraud_mechanism": "cnp"}
    body = _transaction_json(row)
    assert list(body) == [TXN_ID, *INPUT_FIELDS]
    assert body[EVENT_TS] == "2019-03-14T18:52:00+00:00"
    TransactionIn.model_validate(body)
