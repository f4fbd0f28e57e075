-- What the lake_to_clickhouse DAG loaded: rows per lake object (key + etag) and attempt step, so a
-- rerun or an overlapping interval skips what is already there and a rewritten object (new etag)
-- loads again. Append-only: every step (loading, loaded, failed) stays, so no merge can hide an
-- interrupted load (databases created before this keep a ReplacingMergeTree; the loader treats
-- failed like loading, which makes that safe too: fraudlake.lake.ledger).
CREATE TABLE IF NOT EXISTS {{ database }}.load_ledger
(
    object_key          String COMMENT 'Object key in the lake bucket',
    etag                String COMMENT 'Object ETag when it was loaded',
    topic               LowCardinality(String),
    target_table        LowCardinality(String),
    rows                UInt64 COMMENT 'Rows loaded (equals the Parquet row count)',
    bytes               UInt64,
    status              LowCardinality(String) COMMENT 'loaded or failed',
    error               String,
    dag_run_id          String,
    data_interval_start DateTime64(3, 'UTC'),
    data_interval_end   DateTime64(3, 'UTC'),
    loaded_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (object_key, etag, loaded_at);
