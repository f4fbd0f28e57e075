"""The local Strimzi stand-in's pure parts: secret placeholders and status shape."""

from __future__ import annotations

import pytest

from fraudlake.local.stack.local_strimzi import _same_status, ready_status, resolve_secret_refs

pytestmark = pytest.mark.unit


def test_secret_placeholders_resolve_like_strimzis_config_provider() -> None:
    secrets = {("kafka", "lake", "AWS_ACCESS_KEY_ID"): "AK", ("kafka", "lake", "AWS_SECRET_ACCESS_KEY"): "SK"}
    config = {
        "aws.access.key.id": "${secrets:kafka/lake:AWS_ACCESS_KEY_ID}",
        "aws.secret.access.key": "${secrets:kafka/lake:AWS_SECRET_ACCESS_KEY}",
        "file.max.records": 500,
        "file.name.template": "raw/{{topic}}/{{partition}}-{{start_offset}}.parquet",
    }
    resolved = resolve_secret_refs(config, lambda ns, name, key: secrets[(ns, name, key)])
    assert resolved == {
        "aws.access.key.id": "AK",
        "aws.secret.access.key": "SK",
        "file.max.records": "500",
        "file.name.template": "raw/{{topic}}/{{partition}}-{{start_offset}}.parquet",
    }


def test_a_missing_secret_key_is_an_error_not_an_empty_value() -> None:
    def read(ns: str, name: str, key: str) -> str:
        raise KeyError(f"Secret {ns}/{name} has no key {key!r}")

    with pytest.raises(KeyError, match="has no key 'X'"):
        resolve_secret_refs({"a": "${secrets:ns/s:X}"}, read)


def test_status_is_strimzi_shaped_and_not_ready_carries_reason() -> None:
    ok = ready_status(3, True)
    assert ok["observedGeneration"] == 3
    assert ok["conditions"][0]["type"] == "Ready"
    assert ok["conditions"][0]["status"] == "True"
    bad = ready_status(4, False, "RuntimeError", "connector failed")
    assert bad["conditions"][0] | {"lastTransitionTime": ""} == {
        "type": "Ready",
        "status": "False",
        "reason": "RuntimeError",
        "message": "connector failed",
        "lastTransitionTime": "",
    }


def test_same_status_ignores_timestamps_but_not_generation() -> None:
    assert _same_status(ready_status(1, True), ready_status(1, True))
    assert not _same_status(ready_status(1, True), ready_status(2, True))
    assert not _same_status(ready_status(1, True), ready_status(1, False, "X", "y"))
