"""The local Strimzi stand-in's pure parts: secret placeholders and each object's own status."""

from __future__ import annotations

import urllib.error

import pytest
from confluent_kafka import KafkaError, KafkaException
from kubernetes.client.exceptions import ApiException

from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.local_strimzi import resolve_secret_refs, topic_name_of
from fraudlake.local.stack.strimzi_status import (
    MESSAGE_LIMIT,
    NotReadyError,
    camel_case,
    problem_from,
    resource_status,
    status_changed,
)

pytestmark = pytest.mark.unit

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"
KAFKA_RF_MESSAGE = (
    "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be "
    "reached because only 1 broker(s) are registered."
)


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
        raise NotReadyError("SecretKeyNotFound", f"Secret {ns}/{name} has no key {key!r}")

    with pytest.raises(NotReadyError, match="has no key 'X'"):
        resolve_secret_refs({"a": "${secrets:ns/s:X}"}, read)


def test_topic_name_is_spec_topic_name_else_the_resource_name() -> None:
    assert topic_name_of({"metadata": {"name": "a"}, "spec": {"topicName": "a.b_c"}}) == "a.b_c"
    assert topic_name_of({"metadata": {"name": "a"}, "spec": {}}) == "a"


def test_a_ready_object_reports_its_generation_and_its_own_fields() -> None:
    status = resource_status(3, None, T0, fields={"topicName": "t"})
    assert status == {
        "observedGeneration": 3,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": T0}],
        "topicName": "t",
    }


def test_a_refused_topic_is_ready_false_with_kafkas_reason_and_message() -> None:
    refusal = KafkaException(KafkaError(KafkaError.INVALID_REPLICATION_FACTOR, KAFKA_RF_MESSAGE))
    status = resource_status(2, None, T0, problem_from(refusal), {"topicName": "t"})
    assert status["observedGeneration"] == 2
    assert status["topicName"] == "t"
    assert status["conditions"] == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "InvalidReplicationFactor",
            "message": KAFKA_RF_MESSAGE,
            "lastTransitionTime": T0,
        }
    ]


@pytest.mark.parametrize(
    ("exc", "reason", "message"),
    [
        (NotReadyError("NotSupported", "Decreasing partitions not supported"), "NotSupported", "Decreasing"),
        (KafkaException(KafkaError(KafkaError.INVALID_CONFIG, "Invalid value abc")), "InvalidConfig", "abc"),
        (ApiException(status=403, reason="Forbidden"), "KubernetesApiError", "403 Forbidden"),
        (StackError("Kafka Connect PUT … answered 400: bad class"), "ConnectRestException", "bad class"),
        (urllib.error.URLError("refused"), "ConnectRestException", "unreachable: refused"),
        (KeyError("class"), "InternalError", "KeyError: 'class'"),
    ],
)
def test_every_failure_becomes_a_reason_and_a_message(exc: Exception, reason: str, message: str) -> None:
    problem = problem_from(exc)
    assert problem.reason == reason
    assert message in problem.message


def test_reasons_are_one_camel_case_word() -> None:
    assert camel_case("INVALID_REPLICATION_FACTOR") == "InvalidReplicationFactor"
    assert camel_case("_TIMED_OUT") == "TimedOut"


def test_a_long_message_is_cut_for_the_condition() -> None:
    status = resource_status(1, None, T0, NotReadyError("InternalError", "x" * 5000))
    assert len(status["conditions"][0]["message"]) == MESSAGE_LIMIT


def test_transition_time_moves_only_when_readiness_changes() -> None:
    bad = resource_status(1, None, T0, NotReadyError("KafkaError", "broker down"))
    still_bad = resource_status(1, bad, T1, NotReadyError("InvalidConfig", "another reason"))
    assert still_bad["conditions"][0]["lastTransitionTime"] == T0
    assert still_bad["conditions"][0]["reason"] == "InvalidConfig"
    good = resource_status(1, still_bad, T1)
    assert good["conditions"][0]["lastTransitionTime"] == T1


def test_an_unchanged_object_needs_no_status_write() -> None:
    first = resource_status(1, None, T0, fields={"connectorStatus": {"tasks": [{"id": 0}]}})
    again = resource_status(1, first, T1, fields={"connectorStatus": {"tasks": [{"id": 0, "worker": "w"}]}})
    assert not status_changed(first, again)
    assert status_changed(first, resource_status(2, first, T1))
    assert status_changed(first, resource_status(1, first, T1, NotReadyError("ConnectorFailed", "trace")))
    assert status_changed(None, first)


def test_a_connector_state_change_is_written() -> None:
    """spec.state stopped: the worker's STOPPED must reach the status (the operator reads it)."""
    running = resource_status(1, None, T0, fields={"connectorStatus": {"connector": {"state": "RUNNING"}}})
    stopped = resource_status(1, running, T1, fields={"connectorStatus": {"connector": {"state": "STOPPED"}}})
    assert status_changed(running, stopped)


def test_topic_ids_are_printed_as_kafka_prints_them() -> None:
    from confluent_kafka import Uuid

    from fraudlake.local.stack.local_strimzi import kafka_topic_id

    # librdkafka prints standard base64 ('+', '/'); Kafka and Strimzi print URL-safe base64.
    topic_id = Uuid(-0x400FFFFFFFFFFFF, 0xFF)  # bytes fb ff 00 … 01 00 … ff
    assert str(topic_id) == "+/8AAAAAAAEAAAAAAAAA/w"
    assert kafka_topic_id(topic_id) == "-_8AAAAAAAEAAAAAAAAA_w"


class _Described:
    def __init__(self, outcome: object) -> None:
        self.outcome = outcome

    def result(self, timeout: float) -> object:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class _AdminStillPropagating:
    """describe_topics answers UNKNOWN_TOPIC_OR_PART `misses` times, then the topic (or `error`)."""

    def __init__(self, misses: int, error: KafkaException | None = None) -> None:
        self.misses, self.error, self.calls = misses, error, 0

    def describe_topics(self, topics: object) -> dict[str, _Described]:
        from types import SimpleNamespace

        from confluent_kafka import Uuid

        self.calls += 1
        if self.calls <= self.misses:
            unknown = KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
            return {"t": _Described(unknown)}
        return {"t": _Described(self.error or SimpleNamespace(topic_id=Uuid(0, 1)))}


def _strimzi_with(admin: object) -> object:
    from fraudlake.local.stack.local_strimzi import LocalStrimzi

    strimzi = LocalStrimzi.__new__(LocalStrimzi)  # no API server or broker: only the admin calls matter
    strimzi.admin = admin  # type: ignore[attr-defined]
    return strimzi


def test_a_just_created_topic_unknown_to_the_broker_for_a_moment_still_gets_its_id() -> None:
    admin = _AdminStillPropagating(misses=3)
    # The CI failure this guards: a topic created in this round was Ready False
    # (UnknownTopicOrPart) because DescribeTopics ran before the metadata reached the broker.
    assert _strimzi_with(admin)._topic_id("t") == "AAAAAAAAAAAAAAAAAAAAAQ"  # type: ignore[attr-defined]
    assert admin.calls == 4


def test_other_describe_errors_are_not_retried() -> None:
    denied = KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    admin = _AdminStillPropagating(misses=0, error=denied)
    with pytest.raises(KafkaException):
        _strimzi_with(admin)._topic_id("t")  # type: ignore[attr-defined]
    assert admin.calls == 1
