-- The bank's users as captured by Debezium (topic ...cdc.<source>.public.users): current state and
-- history, versioned by the change's WAL position exactly like bank_cards (clickhouse/140).
{%- if change_data_capture %}

CREATE TABLE IF NOT EXISTS {{ database }}.bank_users
(
    user_id     String,
    person      String,
    address     String,
    city        String,
    state       LowCardinality(String),
    zipcode     String,
    row_version UInt64 COMMENT 'The bank row''s own version column',
    updated_at  Nullable(DateTime64(3, 'UTC')),
    row_json    String COMMENT 'The whole row image: columns added to the source table land here first',
    lsn         UInt64 COMMENT 'Debezium source.lsn: the ReplacingMergeTree version',
    op          LowCardinality(String),
    changed_at  DateTime64(3, 'UTC'),
    is_deleted  UInt8
)
ENGINE = ReplacingMergeTree(lsn, is_deleted)
ORDER BY user_id;

CREATE TABLE IF NOT EXISTS {{ database }}.bank_users_history
(
    user_id     String,
    person      String,
    address     String,
    city        String,
    state       LowCardinality(String),
    zipcode     String,
    row_version UInt64,
    updated_at  Nullable(DateTime64(3, 'UTC')),
    row_json    String,
    lsn         UInt64,
    op          LowCardinality(String),
    changed_at  DateTime64(3, 'UTC'),
    is_deleted  UInt8
)
ENGINE = ReplacingMergeTree(lsn)
ORDER BY (user_id, lsn);
{%- endif %}
