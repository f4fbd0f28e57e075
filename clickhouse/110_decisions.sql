-- The stream scorer's decisions: one row per transaction, loaded from the pipeline's decisions topic
-- (read_committed). A reload after a crash inserts the same txn_id again; the replacing merge (and
-- FINAL) keeps one row, the latest decision time winning.
CREATE TABLE IF NOT EXISTS {{ database }}.decisions
(
    txn_id        String,
    card_id       String,
    user_id       String,
    merchant_id   String,
    event_ts      DateTime64(3, 'UTC'),
    amount        Float64,
    model_version LowCardinality(String),
    score         Float32 COMMENT 'Calibrated fraud probability',
    decision      LowCardinality(String) COMMENT 'approve / review / decline',
    reasons       String COMMENT 'JSON: top feature contributions',
    rules_fired   String COMMENT 'JSON: window rules that fired',
    produced_at   DateTime64(3, 'UTC') COMMENT 'Kafka timestamp of the transaction message',
    decided_at    DateTime64(3, 'UTC') COMMENT 'When the scorer decided',
    loaded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(event_ts)
ORDER BY txn_id;
