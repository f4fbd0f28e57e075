-- The topic's incarnation in the load ledger (additive migration): Kafka's id of the topic whose
-- objects a row records. A topic deleted and recreated restarts at offset 0; the loader matches
-- offset ranges only within one incarnation, so the new topic's rows are not taken for the old
-- one's. Rows written before this column hold '' (objects named without a topic id).
ALTER TABLE {{ database }}.load_ledger
    ADD COLUMN IF NOT EXISTS topic_id String DEFAULT '' COMMENT 'Kafka topic id (incarnation) of the object topic';
