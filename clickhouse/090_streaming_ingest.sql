-- Optional hot path (spec.clickhouse.streamingIngest): ClickHouse consumes the transactions topic
-- itself and lands rows in transactions_rt within seconds, next to the batch-loaded transactions.
{%- if streaming_ingest %}

-- Raw messages; JSONAsString copes with both Kafka Connect's {"schema", "payload"} envelope and
-- bare JSON records.
CREATE TABLE IF NOT EXISTS {{ database }}.transactions_queue
(
    raw String
)
ENGINE = Kafka
SETTINGS kafka_broker_list = {{ kafka_bootstrap | sql_string }},
         kafka_topic_list = {{ kafka_topic | sql_string }},
         kafka_group_name = {{ kafka_group | sql_string }},
         kafka_format = 'JSONAsString',
         kafka_num_consumers = 1;

-- Same structure, engine, ordering and TTL as the batch table.
CREATE TABLE IF NOT EXISTS {{ database }}.transactions_rt AS {{ database }}.transactions;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database }}.transactions_rt_mv TO {{ database }}.transactions_rt AS
WITH if(JSONHas(raw, 'payload'), JSONExtractRaw(raw, 'payload'), raw) AS record
SELECT
    JSONExtractString(record, 'txn_id') AS txn_id,
    if(JSONType(record, 'event_ts') = 'String',
       parseDateTime64BestEffort(JSONExtractString(record, 'event_ts'), 3, 'UTC'),
       fromUnixTimestamp64Milli(JSONExtractInt(record, 'event_ts'), 'UTC')) AS event_ts,
    JSONExtractString(record, 'user_id') AS user_id,
    JSONExtractString(record, 'card_id') AS card_id,
    JSONExtractString(record, 'merchant_id') AS merchant_id,
    JSONExtractString(record, 'card_token') AS card_token,
    toUInt32(JSONExtractUInt(record, 'user')) AS user,
    toUInt16(JSONExtractUInt(record, 'card')) AS card,
    toUInt16(JSONExtractUInt(record, 'year')) AS year,
    toUInt8(JSONExtractUInt(record, 'month')) AS month,
    toUInt8(JSONExtractUInt(record, 'day')) AS day,
    JSONExtractString(record, 'time') AS time,
    JSONExtractFloat(record, 'amount') AS amount,
    JSONExtractString(record, 'use_chip') AS use_chip,
    JSONExtractInt(record, 'merchant_name') AS merchant_name,
    JSONExtractString(record, 'merchant_city') AS merchant_city,
    JSONExtract(record, 'merchant_state', 'Nullable(String)') AS merchant_state,
    JSONExtract(record, 'zip', 'Nullable(String)') AS zip,
    toUInt16(JSONExtractUInt(record, 'mcc')) AS mcc,
    JSONExtract(record, 'errors', 'Nullable(String)') AS errors,
    JSONExtractBool(record, 'is_fraud') AS is_fraud
FROM {{ database }}.transactions_queue;
{%- endif %}
