-- Card transactions: the TabFormer columns in snake_case plus the platform's keys, exactly the
-- fields of fraudlake.schemas.records.TRANSACTIONS (a unit test keeps them in step).
-- ReplacingMergeTree on (card_id, event_ts, txn_id): a replayed Parquet object or a re-run load
-- inserts the same txn_id again and merges collapse it (queries that must be exact use FINAL).
CREATE TABLE IF NOT EXISTS {{ database }}.transactions
(
    txn_id         String COMMENT 'Stable, deterministic transaction id',
    event_ts       DateTime64(3, 'UTC') COMMENT 'When the transaction happened (UTC)',
    user_id        String COMMENT 'User key: the TabFormer user number',
    card_id        String COMMENT 'Card key: <user>-<card index>',
    merchant_id    String COMMENT 'Merchant key: the TabFormer merchant id in decimal',
    card_token     String COMMENT 'Tokenized card number; the PAN never reaches the lake',
    user           UInt32 COMMENT 'TabFormer User',
    card           UInt16 COMMENT 'TabFormer Card (index of the card within the user)',
    year           UInt16,
    month          UInt8,
    day            UInt8,
    time           String COMMENT 'TabFormer Time, HH:MM',
    amount         Float64 COMMENT 'TabFormer Amount in dollars; negative for refunds',
    use_chip       LowCardinality(String) COMMENT 'Swipe / Chip / Online Transaction',
    merchant_name  Int64 COMMENT 'TabFormer Merchant Name (an opaque 64-bit merchant id)',
    merchant_city  String,
    merchant_state LowCardinality(Nullable(String)) COMMENT 'US state or country; null online',
    zip            Nullable(String) COMMENT 'Five-digit ZIP; null for online and foreign transactions',
    mcc            UInt16 COMMENT 'Merchant category code',
    errors         Nullable(String) COMMENT 'TabFormer Errors? (comma-separated; null when none)',
    is_fraud       Bool COMMENT 'TabFormer Is Fraud?',
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'When the row was loaded; the replacing version'
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(event_ts)
ORDER BY (card_id, event_ts, txn_id)
{%- if retention_days %}
TTL toDateTime(event_ts) + INTERVAL {{ retention_days }} DAY
{%- endif %}
SETTINGS ttl_only_drop_parts = 1;
