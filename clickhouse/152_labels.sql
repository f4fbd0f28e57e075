-- Fraud labels from the field: an analyst's disposition of a case (one row per flagged transaction of
-- the case) or a chargeback. A later label of the same transaction from the same source wins.
CREATE TABLE IF NOT EXISTS {{ database }}.labels
(
    txn_id   String,
    card_id  String,
    label    UInt8 COMMENT '1 fraud, 0 legitimate',
    source   LowCardinality(String) COMMENT 'analyst / chargeback',
    case_id  String COMMENT 'The case an analyst label came from; empty for chargebacks',
    actor    String,
    known_at DateTime64(3, 'UTC') COMMENT 'When the label became known'
)
ENGINE = ReplacingMergeTree(known_at)
ORDER BY (txn_id, source);
