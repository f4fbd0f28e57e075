"""The FraudPipeline status as a pydantic model: the schema of ``.status`` in the generated CRD.

The operator writes status as merge patches built in `fraudlake.operator.reconcile`; this model
documents the fields (``kubectl explain fp.status``) and keeps the CRD's status schema in one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fraudlake.pipeline.spec import ApiModel

# Condition types, in Strimzi's shape: Ready sums up the four parts; Paused while the pause
# annotation is set. ScoringReady is True with reason ScorerOff when spec.scoring.replicas is 0.
READY = "Ready"
TOPICS_READY = "TopicsReady"
CONNECTORS_READY = "ConnectorsReady"
TABLES_READY = "TablesReady"
SCORING_READY = "ScoringReady"
PAUSED = "ReconciliationPaused"
PARTS = (TOPICS_READY, CONNECTORS_READY, TABLES_READY, SCORING_READY)
CONDITION_TYPES = (READY, *PARTS, PAUSED)


class Condition(ApiModel):
    """A status condition, in Strimzi's shape."""

    type: str = Field(
        description="Ready, TopicsReady, ConnectorsReady, TablesReady, ScoringReady or ReconciliationPaused."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One CamelCase word.")
    message: str = Field(default="", description="What happened, for a human.")
    last_transition_time: str = Field(default="", description="When status last changed (UTC, RFC 3339).")


class DriftStatus(ApiModel):
    """The drift timer's last check and last repair."""

    last_check_time: str = Field(
        default="", description="When the children were last compared with the spec."
    )
    last_repair_time: str = Field(default="", description="When the timer last had to repair something.")
    repaired: tuple[str, ...] = Field((), description="What the last repair recreated or re-applied.")


class FraudPipelineStatus(ApiModel):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation last reconciled."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        description="Ready, TopicsReady, ConnectorsReady, TablesReady, ScoringReady, ReconciliationPaused.",
    )
    topics: tuple[str, ...] = Field((), description="KafkaTopic names (in the Kafka cluster's namespace).")
    topics_ready: str = Field(default="", description="Ready topics / topics, e.g. 6/6.")
    topic_ids: dict[str, str] = Field(
        default_factory=dict,
        description="Kafka topic id (Strimzi's status.topicId) of each KafkaTopic, as last accepted: the "
        "topic's incarnation. One that changes, or a topic that must be recreated, is refused until "
        "the fraudlake.io/accept-topic-recreation annotation names the old id.",
    )
    connector: str = Field(
        default="", description="KafkaConnector name (in the Kafka Connect cluster's namespace)."
    )
    sources: tuple[str, ...] = Field(
        (),
        description="Debezium KafkaConnector names of spec.sources (in the Kafka Connect namespace).",
    )
    database: str = Field(default="", description="ClickHouse database.")
    tables: tuple[str, ...] = Field((), description="ClickHouse tables and views present.")
    tables_ready: str = Field(default="", description="Present tables and views / expected, e.g. 13/13.")
    scorer: str = Field(default="", description="The scorer Deployment's name (in the pipeline's namespace).")
    scoring_ready: str = Field(
        default="", description="Available scorer pods / desired, e.g. 2/2; 'off' when replicas is 0."
    )
    drift: DriftStatus | None = Field(default=None, description="Drift timer's last check.")
