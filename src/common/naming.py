"""Names shared by every part of the platform: Kafka topics per pipeline.

The producer writes to these topics and the operator creates them (Strimzi `KafkaTopic`), so both
call `topic_name` and never format the string themselves.
"""

from __future__ import annotations

import re

STREAMS = ("transactions", "cards", "users", "alerts")

# Kafka accepts [a-zA-Z0-9._-]; Kubernetes names (namespace, pipeline) are stricter (RFC 1123),
# so a valid pipeline always yields a valid topic.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_TOPIC_LENGTH = 249


def topic_name(namespace: str, pipeline: str, stream: str) -> str:
    """`fraudlake.<namespace>.<pipeline>.<stream>`; raises ValueError on names Kafka or k8s reject."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    for what, value in (("namespace", namespace), ("pipeline", pipeline)):
        if not _DNS_LABEL.match(value):
            raise ValueError(
                f"{what} {value!r} is not a lowercase DNS label ([a-z0-9-], no leading/trailing -)"
            )
    name = f"fraudlake.{namespace}.{pipeline}.{stream}"
    if len(name) > _MAX_TOPIC_LENGTH:
        raise ValueError(f"topic name {name!r} is longer than Kafka's {_MAX_TOPIC_LENGTH} characters")
    return name


def pipeline_topics(namespace: str, pipeline: str) -> dict[str, str]:
    """Every stream's topic of one pipeline, keyed by stream."""
    return {stream: topic_name(namespace, pipeline, stream) for stream in STREAMS}
