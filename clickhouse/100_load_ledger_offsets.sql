-- Kafka positions in the load ledger (additive migration): which offsets of which partition each
-- lake object holds. The lake_to_clickhouse loader skips rows whose offsets an earlier object
-- already loaded, so a connector replay that rewrites or re-cuts objects never loads a record
-- twice, and an attempt that died between insert and ledger (status 'loading') is found again.
ALTER TABLE {{ database }}.load_ledger
    ADD COLUMN IF NOT EXISTS kafka_partition UInt32 DEFAULT 0 COMMENT 'Kafka partition of the object (from its name)',
    ADD COLUMN IF NOT EXISTS first_offset Int64 DEFAULT -1 COMMENT 'Smallest Kafka offset in the object',
    ADD COLUMN IF NOT EXISTS last_offset Int64 DEFAULT -1 COMMENT 'Largest Kafka offset in the object',
    ADD COLUMN IF NOT EXISTS parquet_rows UInt64 DEFAULT 0 COMMENT 'Rows in the Parquet footer',
    ADD COLUMN IF NOT EXISTS skipped_rows UInt64 DEFAULT 0 COMMENT 'Rows already loaded from other objects',
    COMMENT COLUMN status 'loading (insert under way, or interrupted), loaded or failed';
