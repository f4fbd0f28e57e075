-- Where the lake_to_clickhouse loader's sweep of each topic starts: every object of the topic last
-- written before the watermark is loaded (or was past the sweep's lookback bound, which the task
-- logs). Each run lists from the watermark minus an overlap, so objects of intervals whose run
-- never happened or failed still load. Append-only, one row per run and topic; the newest row
-- wins (fraudlake.lake.sweep).
CREATE TABLE IF NOT EXISTS {{ database }}.load_watermark
(
    topic          LowCardinality(String),
    watermark      DateTime64(3, 'UTC') COMMENT 'Objects last written before this are loaded',
    listed_from    DateTime64(3, 'UTC') COMMENT 'Start of the run listing window (Last-Modified)',
    listed_to      DateTime64(3, 'UTC') COMMENT 'End of the run listing window (Last-Modified)',
    pending        UInt64 COMMENT 'Listed objects still not loaded after the run',
    swept          UInt64 COMMENT 'Listed objects last written before the run data interval',
    dag_run_id     String,
    recorded_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, recorded_at);
