-- The bank's cards as captured from its PostgreSQL database by Debezium (spec.sources; topic
-- fraudlake.<namespace>.<pipeline>.cdc.<source>.public.cards), apart from the TabFormer reference
-- table `cards`; only for a pipeline with spec.sources. Two tables fed by the same change events (fraudlake.clickhouse.cdc_ingest):
--
-- bank_cards: the current state, one row per card. The version is the change's position in the
-- database's write-ahead log (source.lsn): strictly increasing per row, and the same for a change
-- Kafka Connect delivers twice after a restart, so a replay never adds a row. A delete is a row with
-- is_deleted = 1 that replaces the card's last state; read with FINAL (it hides deleted cards).
{%- if change_data_capture %}

CREATE TABLE IF NOT EXISTS {{ database }}.bank_cards
(
    card_id          String,
    user_id          String,
    card_brand       LowCardinality(String),
    card_type        LowCardinality(String),
    credit_limit     Float64,
    status           LowCardinality(String) COMMENT 'active, blocked or replaced',
    blocked_reason   Nullable(String),
    replaces_card_id Nullable(String) COMMENT 'The card this one was reissued for',
    row_version      UInt64 COMMENT 'The bank row''s own version column',
    updated_at       Nullable(DateTime64(3, 'UTC')),
    row_json         String COMMENT 'The whole row image: columns added to the source table land here first',
    lsn              UInt64 COMMENT 'Debezium source.lsn: the ReplacingMergeTree version',
    op               LowCardinality(String) COMMENT 'r snapshot, c insert, u update, d delete',
    changed_at       DateTime64(3, 'UTC') COMMENT 'When the change committed in PostgreSQL (source.ts_ms)',
    is_deleted       UInt8
)
ENGINE = ReplacingMergeTree(lsn, is_deleted)
ORDER BY card_id;

-- bank_cards_history: every change, one row per (card, lsn): who blocked what when, which card
-- replaced which. Replayed changes collapse on (card_id, lsn) like the current state's.
CREATE TABLE IF NOT EXISTS {{ database }}.bank_cards_history
(
    card_id          String,
    user_id          String,
    card_brand       LowCardinality(String),
    card_type        LowCardinality(String),
    credit_limit     Float64,
    status           LowCardinality(String),
    blocked_reason   Nullable(String),
    replaces_card_id Nullable(String),
    row_version      UInt64,
    updated_at       Nullable(DateTime64(3, 'UTC')),
    row_json         String,
    lsn              UInt64,
    op               LowCardinality(String),
    changed_at       DateTime64(3, 'UTC'),
    is_deleted       UInt8
)
ENGINE = ReplacingMergeTree(lsn)
ORDER BY (card_id, lsn);
{%- endif %}
