-- Model scores: one row per (transaction, model version); a re-score replaces the earlier row.
CREATE TABLE IF NOT EXISTS {{ database }}.predictions
(
    txn_id        String,
    card_id       String,
    user_id       String,
    merchant_id   String,
    event_ts      DateTime64(3, 'UTC'),
    model_version LowCardinality(String),
    score         Float32 COMMENT 'Fraud probability',
    decision      LowCardinality(String) COMMENT 'approve / review / decline',
    reasons       String COMMENT 'JSON: top feature contributions',
    scored_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(scored_at)
PARTITION BY toYYYYMM(event_ts)
ORDER BY (txn_id, model_version);
