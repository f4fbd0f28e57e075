"""The stream scorer's environment: the variables the operator's Deployment sets and `fraudlake scorer run`
reads, named once for both sides.

`fraudlake.operator.builders.scorer_env` writes them from a pipeline's spec and the operator's settings;
the options of `fraudlake.stream.cli.run` read them (typer ``envvar=``). A unit test holds the two to
the same names, so renaming one side cannot leave a Deployment that configures nothing. S3 credentials
are not here: they reach the pod from a Secret (``envFrom``, FRAUDLAKE_S3_ACCESS_KEY/_SECRET_KEY) or
IRSA, and the model store reads them itself.
"""

from __future__ import annotations

KAFKA_BOOTSTRAP = "FRAUDLAKE_KAFKA_BOOTSTRAP"
MODEL_URI = "FRAUDLAKE_MODEL_URI"  # the model registry: s3://bucket/prefix or a directory
S3_ENDPOINT = "FRAUDLAKE_S3_ENDPOINT"  # an S3-compatible registry (MinIO); unset: AWS S3
MODEL = "FRAUDLAKE_SCORER_MODEL"  # 'champion' or a pinned version (spec.scoring.model)
REVIEW_THRESHOLD = "FRAUDLAKE_SCORER_REVIEW_THRESHOLD"  # spec.scoring.thresholds.review (or .threshold)
DECLINE_THRESHOLD = "FRAUDLAKE_SCORER_DECLINE_THRESHOLD"  # spec.scoring.thresholds.decline
RULES = "FRAUDLAKE_SCORER_RULES"  # spec.rules as a JSON list (camelCase)
METRICS_PORT = "FRAUDLAKE_SCORER_METRICS_PORT"
STATE_DIR = "FRAUDLAKE_SCORER_STATE_DIR"
CLICKHOUSE_DSN = "FRAUDLAKE_CLICKHOUSE_DSN"  # from the pipeline's spec.clickhouse.endpointSecret
CLICKHOUSE_DATABASE = "FRAUDLAKE_CLICKHOUSE_DATABASE"
OTLP_ENDPOINT = "FRAUDLAKE_OTLP_ENDPOINT"  # traces to this OTLP/HTTP collector; unset: tracing off
CDC_TOPICS = "FRAUDLAKE_SCORER_CDC_TOPICS"  # spec.sources' topics: card statuses, and loaded into ClickHouse
GROUP = "FRAUDLAKE_SCORER_GROUP"  # read by the CLI only: the operator keeps the default group

# What the operator's Deployment may set; the thresholds, the S3 and OTLP endpoints only when given.
DEPLOYMENT: tuple[str, ...] = (
    KAFKA_BOOTSTRAP,
    MODEL_URI,
    S3_ENDPOINT,
    MODEL,
    REVIEW_THRESHOLD,
    DECLINE_THRESHOLD,
    RULES,
    METRICS_PORT,
    STATE_DIR,
    CLICKHOUSE_DATABASE,
    CLICKHOUSE_DSN,
    OTLP_ENDPOINT,
    CDC_TOPICS,
)
