"""Topic incarnations: refuse to replace a topic the pipeline already had with a new one silently.

A Kafka topic deleted and created again under the same name is a new topic: its offsets restart at
0 and Kafka gives it a new topic id (Strimzi reports it as the KafkaTopic's ``status.topicId``).
Everything keyed by offsets downstream (the lake's object names, the loader's ledger) must learn
about it, and whoever deleted the old topic may not have meant to lose it. So the operator records
each topic's id in the FraudPipeline's ``status.topicIds`` and, when a topic it had reconciled must
be recreated (its KafkaTopic is gone) or shows up with another id (recreated behind its back), it
refuses: a Warning Event and the TopicsReady condition say which topic and how to proceed, which
is to name the old incarnation in the ``fraudlake.io/accept-topic-recreation`` annotation.

The annotation names the incarnation given up, not the new one: a KafkaTopic that must be
recreated has no new id yet, and an annotation left behind cannot accept a later recreation (that
one would replace another id). For a topic whose id was never recorded (pipelines reconciled
before ids were), its KafkaTopic name stands in for the id.

Pure decisions: `judge` takes what the status recorded and what the cluster shows, and says what
to do; `fraudlake.operator.children` acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fraudlake.pipeline import naming


class Verdict(Enum):
    CREATE = "create"  # a topic the pipeline never had: create it
    KEEP = "keep"  # the recorded incarnation (or none reported yet): carry on
    RECREATE = "recreate"  # gone, and its loss accepted: create it again
    ADOPT = "adopt"  # another id, accepted: record it
    REFUSE = "refuse"  # gone or replaced without acceptance: leave everything as it is


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    topic_id: str = ""  # the id to record ("" while Strimzi has not reported one)
    message: str = ""  # for the Event and the condition when refused or accepted


def accepted_tokens(meta: Mapping[str, Any]) -> frozenset[str]:
    """The topic ids (or KafkaTopic names) the accept annotation lists."""
    value = (meta.get("annotations") or {}).get(naming.ACCEPT_TOPIC_RECREATION_ANNOTATION) or ""
    return frozenset(token.strip() for token in str(value).split(",") if token.strip())


def observed_topic_id(kafka_topic: Mapping[str, Any] | None) -> str:
    """Kafka's topic id as Strimzi reports it; "" when not (yet) reported."""
    return str(((kafka_topic or {}).get("status") or {}).get("topicId") or "")


def judge(
    name: str,
    kafka_topic: Mapping[str, Any] | None,
    had_topic: bool,
    recorded_id: str,
    accepted: frozenset[str],
) -> Judgement:
    """What to do with the KafkaTopic `name`.

    `kafka_topic`: the KafkaTopic as read (None when missing); `had_topic`: the status lists it;
    `recorded_id`: its id in ``status.topicIds`` ("" if none); `accepted`: `accepted_tokens`.
    """
    token = recorded_id or name
    if kafka_topic is None:
        if not had_topic:
            return Judgement(Verdict.CREATE)
        if token in accepted:
            return Judgement(
                Verdict.RECREATE, "", f"KafkaTopic {name} recreated: incarnation {token} given up as accepted"
            )
        return Judgement(
            Verdict.REFUSE,
            recorded_id,
            f"KafkaTopic {name} (topic id {recorded_id or 'not recorded'}) is gone; recreating it starts "
            f"a new topic at offset 0. Not recreated: to proceed, annotate the FraudPipeline "
            f"{naming.ACCEPT_TOPIC_RECREATION_ANNOTATION}={token}",
        )
    observed = observed_topic_id(kafka_topic)
    if not observed or not recorded_id or observed == recorded_id:
        return Judgement(Verdict.KEEP, observed or recorded_id)
    if recorded_id in accepted:
        return Judgement(
            Verdict.ADOPT,
            observed,
            f"KafkaTopic {name} is a new incarnation: topic id {recorded_id} -> {observed}, as accepted",
        )
    return Judgement(
        Verdict.REFUSE,
        recorded_id,
        f"KafkaTopic {name} was recreated behind the operator's back: topic id {recorded_id} -> "
        f"{observed} (offsets restart at 0). Not adopted: to proceed, annotate the FraudPipeline "
        f"{naming.ACCEPT_TOPIC_RECREATION_ANNOTATION}={recorded_id}",
    )


def is_stale(kafka_topic: Mapping[str, Any] | None, accepted_id: str) -> bool:
    """Whether the topic is not the incarnation `accepted_id` any more: gone, or another id."""
    observed = observed_topic_id(kafka_topic)
    return kafka_topic is None or bool(observed and observed != accepted_id)
