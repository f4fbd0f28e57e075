-- Alerts raised by the model or a rule; status changes insert a newer row (updated_at wins).
CREATE TABLE IF NOT EXISTS {{ database }}.alerts
(
    alert_id    String,
    txn_id      String,
    card_id     String,
    user_id     String,
    merchant_id String,
    event_ts    DateTime64(3, 'UTC'),
    source      LowCardinality(String) COMMENT 'model or rule:<name>',
    score       Float32,
    severity    LowCardinality(String),
    status      LowCardinality(String) COMMENT 'open / notified / confirmed / dismissed',
    message     String,
    created_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY alert_id;
