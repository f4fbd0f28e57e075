-- The model_drift DAG's reports: one row per monitored column (the model's inputs and its score) per
-- run, PSI against the served model's training window. alert_rate and flagged_precision belong to the
-- run and repeat on its rows, so the latest run is one query (the operator's ModelHealthy condition,
-- the API's drift endpoint). Kept 180 days: enough to see a drift building up over a season.
CREATE TABLE IF NOT EXISTS {{ database }}.model_drift
(
    pipeline          String COMMENT '<namespace>/<name> of the FraudPipeline',
    run_id            String COMMENT 'The Airflow run that computed the report',
    computed_at       DateTime64(3, 'UTC'),
    model_version     String COMMENT 'The model whose training window is the reference',
    feature           LowCardinality(String) COMMENT 'Monitored column, or score',
    psi               Nullable(Float64) COMMENT 'Population stability index; null: too few rows to judge',
    level             LowCardinality(String) COMMENT 'ok / warn / drifting / insufficient',
    reference_rows    UInt64,
    recent_rows       UInt64,
    reference_start   DateTime64(3, 'UTC'),
    reference_end     DateTime64(3, 'UTC'),
    recent_start      DateTime64(3, 'UTC'),
    recent_end        DateTime64(3, 'UTC'),
    alert_rate        Nullable(Float64) COMMENT 'Share of recent decisions that were review or decline',
    flagged_precision Nullable(Float64) COMMENT 'Frauds among flagged decisions older than the label delay',
    flagged_labelled  UInt64 COMMENT 'How many flagged decisions flagged_precision is computed on'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(computed_at)
ORDER BY (pipeline, computed_at, feature)
TTL toDateTime(computed_at) + INTERVAL 180 DAY;
