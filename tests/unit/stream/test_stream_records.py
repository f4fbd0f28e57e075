"""Decoding of transactions-topic messages: each kind of bad input is named, good ones validate."""

from __future__ import annotations

import json

import pytest

from fraudlake.scoring.models import EXAMPLE_TRANSACTION
from fraudlake.stream.records import BadInputError, decode_transaction

pytestmark = pytest.mark.unit
TOPIC_RECORD = EXAMPLE_TRANSACTION | {"event_ts": 1552589520000}  # the producer writes epoch ms


def test_a_bare_payload_and_a_connect_envelope_decode_to_the_same_transaction() -> None:
    bare = decode_transaction(json.dumps(TOPIC_RECORD).encode())
    enveloped = decode_transaction(json.dumps({"schema": {}, "payload": TOPIC_RECORD}).encode())
    assert bare == enveloped
    assert bare.event_ts.isoformat() == "2019-03-14T18:52:00+00:00"


@pytest.mark.parametrize(
    ("value", "kind", "names"),
    [
        (b"", "empty", ""),
        (None, "empty", ""),
        (b"{oops", "malformed_json", ""),
        (b"\xff\xfe", "malformed_json", ""),
        (b"[1, 2]", "not_an_object", "list"),
        (json.dumps({"schema": {}, "payload": "x"}).encode(), "not_an_object", "str"),
        (json.dumps({k: v for k, v in TOPIC_RECORD.items() if k != "merchant_id"}).encode(), "invalid_fields",
         "merchant_id"),
        (json.dumps(TOPIC_RECORD | {"amount": "12.50"}).encode(), "invalid_fields", "amount"),
        (json.dumps(TOPIC_RECORD | {"mcc": 5411.5}).encode(), "invalid_fields", "mcc"),
        (json.dumps(TOPIC_RECORD | {"event_ts": 1}).encode(), "invalid_fields", "event_ts"),
    ],
)  # fmt: skip
def test_bad_input_is_named(value: bytes | None, kind: str, names: str) -> None:
    with pytest.raises(BadInputError) as caught:
        decode_transaction(value)
    assert caught.value.kind == kind
    assert names in caught.value.detail
